// What every probe needs of a model, found through its hook points only (the probes know no
// concrete model class): the number of blocks and heads, next-token losses, token labels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/data/tokenizer.h"
#include "core/nn/model.h"

namespace kiln::probes {

/// Blocks of the model: the hook points blocks.{i}.hook_resid_post. Throws if it has none.
int64_t count_layers(const nn::Model& model);
/// "blocks.{layer}.{suffix}".
std::string block_hook(int64_t layer, const std::string& suffix);
/// Whether the model has a hook point of this name.
bool has_hook(const nn::Model& model, const std::string& name);

/// Logits of a forward without gradients, as f64 values, with the hooks already set.
Tensor forward_logits(nn::Model& model, const Tensor& tokens);
/// Mean next-token cross-entropy of tokens [B, T] over the predictions of positions
/// [from, to) (token t + 1 from position t; to <= T - 1; to < 0: T - 1).
double next_token_loss(const Tensor& logits, const Tensor& tokens, int64_t from = 0,
                       int64_t to = -1);

/// Token ids i64 [1, T] of a text (throws if it has no token or exceeds the context).
Tensor encode_prompt(const data::Tokenizer& tokenizer, const std::string& text,
                     const nn::Model& model);
/// A label for each token id, printable in an SVG (its text, control bytes escaped).
std::vector<std::string> token_labels(const data::Tokenizer* tokenizer,
                                      const std::vector<int64_t>& ids);
/// The ids of row b of i64 tokens [B, T].
std::vector<int64_t> row_ids(const Tensor& tokens, int64_t b = 0);

}  // namespace kiln::probes
