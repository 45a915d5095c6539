// Supervised fine-tuning: the mean cross-entropy over the response tokens only. The data marks
// them: the prompt_response dataset sets targets to -100 on prompt tokens (and padding), so
// the prompt is read but never scored (TRL's SFTTrainer with completion_only_loss). Packed
// rows carry segment_ids and positions that restart at each example, which go to the model so
// that packed examples never attend to each other (TRL's padding_free packing with
// position_ids).
#pragma once

#include "plugins/objectives/logprobs.h"

namespace kiln::objectives {

class Sft : public train::Objective {
 public:
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
};

}  // namespace kiln::objectives
