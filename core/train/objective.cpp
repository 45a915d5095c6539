#include "core/train/objective.h"

namespace kiln::train {

Objective::~Objective() = default;

}  // namespace kiln::train
