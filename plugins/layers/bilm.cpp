#include "plugins/layers/bilm.h"

#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"
#include "core/ops/index.h"
#include "core/ops/linalg.h"
#include "core/tensor/factory.h"
#include "plugins/layers/attention.h"
#include "plugins/layers/lstm.h"

namespace kiln::layers {

BiLM::BiLM(const BiLMConfig& config, std::vector<std::shared_ptr<nn::Layer>> fwd,
           std::vector<std::shared_ptr<nn::Layer>> bwd)
    : c_(config) {
  KILN_CHECK(c_.vocab >= 1 && c_.d_model >= 1 && c_.context >= 1,
             "bilm: vocab, d_model and context must be >= 1, got ", c_.vocab, ", ", c_.d_model,
             ", ", c_.context);
  KILN_CHECK(!fwd.empty() && fwd.size() == bwd.size(),
             "bilm: the forward and backward stacks need the same number (>= 1) of layers, got ",
             fwd.size(), " and ", bwd.size());
  KILN_CHECK(c_.dropout >= 0 && c_.dropout < 1, "bilm: dropout must be in [0, 1), got ",
             c_.dropout);
  c_.init.n_layers = int64_t(fwd.size());
  InitScope init_scope(c_.init);
  wte = register_module("wte", std::make_shared<TokenEmbedding>(c_.vocab, c_.d_model));
  forward_layers = register_module("forward_layers", std::make_shared<nn::ModuleList>());
  backward_layers = register_module("backward_layers", std::make_shared<nn::ModuleList>());
  for (auto& l : fwd) forward_layers->push_back(std::move(l));
  for (auto& l : bwd) backward_layers->push_back(std::move(l));
  // A layer must not see later tokens: the backward LM relies on it, on the reversed sequence.
  for (const auto& stack : {forward_layers, backward_layers})
    for (const auto& [name, m] : stack->named_modules()) {
      if (const auto* a = dynamic_cast<const Attention*>(m))
        KILN_CHECK(a->config().causal, "bilm: attention layer ", name,
                   " is bidirectional; a language model's layers must be causal");
      if (const auto* l = dynamic_cast<const LSTM*>(m))
        KILN_CHECK(l->config().direction == LSTMConfig::Direction::forward, "bilm: LSTM layer ",
                   name, " must read forward (the backward LM runs it on the reversed sequence)");
    }
  if (!c_.tie_embeddings) {
    lm_head = register_module("lm_head", std::make_shared<Linear>(c_.d_model, c_.vocab, false));
    lm_head->init_normal(c_.init.std, c_.init.generator);
  }
}

Tensor BiLM::run(nn::ModuleList& layers, Tensor x, nn::ForwardState& state) {
  for (size_t i = 0; i < layers.size(); ++i) {
    auto& layer = static_cast<nn::Layer&>(*layers[i]);
    Tensor y = layer.forward(x, state);
    KILN_CHECK(y.shape() == x.shape(), "bilm: layer ", i, " turned ", x.shape(), " into ",
               y.shape(), "; the layers must keep [B, T, d_model]");
    if (c_.residual && i > 0 && dynamic_cast<LSTM*>(&layer)) y = ops::add(y, x);
    if (is_training() && c_.dropout > 0) y = ops::dropout(y, c_.dropout, true, state.generator);
    x = y;
  }
  return x;
}

namespace {

// x reversed along dim 1.
Tensor flip_time(const Tensor& x) {
  const int64_t T = x.size(1);
  std::vector<int64_t> idx(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) idx[size_t(t)] = T - 1 - t;
  return ops::index_select(x, 1, from_vector(idx, {T}).to(x.device()));
}

}  // namespace

BiLM::States BiLM::states(const Tensor& tokens, nn::ForwardState& state, bool backward) {
  KILN_CHECK(!state.cache, "bilm: no KV cache (generate with use_cache = false)");
  KILN_CHECK(tokens.defined() && tokens.dim() == 2, "bilm: expected token ids [B, T], got ",
             tokens.defined() ? shape_str(tokens.shape()) : std::string("an undefined tensor"));
  KILN_CHECK(tokens.size(1) <= c_.context, "bilm: ", tokens.size(1),
             " tokens exceed the model's context of ", c_.context, " positions");
  Tensor x = wte->forward(tokens, state);
  if (is_training() && c_.dropout > 0) x = ops::dropout(x, c_.dropout, true, state.generator);
  States s;
  s.forward = run(*forward_layers, x, state);
  if (backward) {
    // The reversed rows: row order of padding and documents reversed with them; positions
    // count from the (reversed) start.
    nn::ForwardState rev;
    rev.generator = state.generator;
    if (state.key_padding.defined()) rev.key_padding = flip_time(state.key_padding);
    if (state.segment_ids.defined()) rev.segment_ids = flip_time(state.segment_ids);
    s.backward = flip_time(run(*backward_layers, flip_time(x), rev));
  }
  return s;
}

Tensor BiLM::logits(const Tensor& h, nn::ForwardState&) {
  return ops::linear(h, lm_head ? lm_head->weight : wte->weight);
}

BiLM::Logits BiLM::bidirectional_logits(const Tensor& tokens, nn::ForwardState& state) {
  States s = states(tokens, state, true);
  return {logits(s.forward, state), logits(s.backward, state)};
}

Tensor BiLM::forward(const Tensor& tokens, nn::ForwardState& state) {
  return logits(states(tokens, state, false).forward, state);
}

Tensor BiLM::encode(const Tensor& tokens, nn::ForwardState& state) {
  States s = states(tokens, state, true);
  return ops::concat({s.forward, s.backward}, -1);
}

double BiLM::train_flops_per_token(int64_t seq_len) const {
  double n = double(num_parameters());
  if (lm_head) n -= double(wte->weight.numel());
  double attn = 0;
  for (const auto& [name, m] : named_modules())
    if (auto* a = dynamic_cast<const Attention*>(m)) attn += a->attention_flops_per_token(seq_len);
  return 6.0 * n + attn;
}

}  // namespace kiln::layers
