#include "core/ops/cpu/register.h"

namespace kiln::ops::cpu {

void register_loss() {}

}  // namespace kiln::ops::cpu
