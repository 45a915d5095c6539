#include "core/ops/cpu/register.h"

namespace kiln::ops::cpu {

void register_softmax() {}

}  // namespace kiln::ops::cpu
