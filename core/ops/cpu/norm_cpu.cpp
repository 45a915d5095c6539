#include "core/ops/cpu/register.h"

namespace kiln::ops::cpu {

void register_norm() {}

}  // namespace kiln::ops::cpu
