// Helpers of the probes tests: small decoders built through the layers plugin's components, and
// a training loop (AdamW on next-token cross-entropy) for the toy models the acceptance tests
// read.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "core/kiln.h"
#include "core/nn/hooks.h"
#include "core/nn/model.h"
#include "core/registry/registry.h"

namespace kiln::probes::testing {

/// A decoder from the layers plugin's components (registered once), e.g.
///   {"vocab": 16, "d_model": 16, "n_layers": 2, "n_heads": 2, "context": 16}
/// (the "@component" key is added).
std::shared_ptr<nn::Model> make_decoder(const std::string& json_fields);

/// Trains with AdamW on next-token loss over batches from `batch(step)` (i64 [B, T]); returns
/// the last step's loss. The model is left in eval mode.
double train(nn::Model& model, const std::function<Tensor(int64_t step)>& batch, int64_t steps,
             double lr);

}  // namespace kiln::probes::testing
