#include "core/ops/cpu/register.h"

namespace kiln::ops::cpu {

void register_attention() {}

}  // namespace kiln::ops::cpu
