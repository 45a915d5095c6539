#include "core/ops/cpu/register.h"

namespace kiln::ops::cpu {

void register_index() {}

}  // namespace kiln::ops::cpu
