#include "core/train/reward.h"

namespace kiln::train {

Reward::~Reward() = default;

}  // namespace kiln::train
