#include "core/ops/cpu/register.h"

namespace kiln::ops::cpu {

void register_matmul() {}

}  // namespace kiln::ops::cpu
