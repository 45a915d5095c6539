#include "plugins/layers/lstm.h"

#include <cmath>

#include "core/nn/init.h"
#include "core/ops/elementwise.h"
#include "core/ops/index.h"
#include "core/ops/linalg.h"
#include "core/tensor/factory.h"

namespace kiln::layers {

LSTM::LSTM(const LSTMConfig& config) : c_(config) {
  if (c_.d_hidden == 0) c_.d_hidden = c_.d_model;
  KILN_CHECK(c_.d_model >= 1 && c_.d_hidden >= 1 && c_.d_proj >= 0,
             "lstm: d_model and d_hidden must be >= 1 and d_proj >= 0, got ", c_.d_model, ", ",
             c_.d_hidden, " and ", c_.d_proj);
  KILN_CHECK(c_.cell_clip >= 0 && c_.proj_clip >= 0, "lstm: clips must be >= 0 (0 = off)");
  KILN_CHECK(c_.proj_clip == 0 || c_.d_proj > 0, "lstm: proj_clip needs a projection (d_proj)");
  if (c_.direction != LSTMConfig::Direction::backward) fwd = make_weights("");
  if (c_.direction != LSTMConfig::Direction::forward) bwd = make_weights("_reverse");
  init_weights(current_init());
}

int64_t LSTM::d_out() const {
  return c_.direction == LSTMConfig::Direction::both ? 2 * d_direction() : d_direction();
}

LSTM::Weights LSTM::make_weights(const std::string& suffix) {
  const int64_t C = c_.d_hidden, P = d_direction();
  Weights w;
  w.weight_ih = register_parameter("weight_ih" + suffix, zeros({4 * C, c_.d_model}));
  w.weight_hh = register_parameter("weight_hh" + suffix, zeros({4 * C, P}));
  if (c_.bias) {
    w.bias_ih = register_parameter("bias_ih" + suffix, zeros({4 * C}));
    w.bias_hh = register_parameter("bias_hh" + suffix, zeros({4 * C}));
  }
  if (c_.d_proj > 0) w.weight_hr = register_parameter("weight_hr" + suffix, zeros({P, C}));
  return w;
}

void LSTM::init_weights(const InitOptions& o) {
  const double k = 1.0 / std::sqrt(double(c_.d_hidden));
  for (Weights* w : {&fwd, &bwd})
    for (nn::Parameter* p : {&w->weight_ih, &w->weight_hh, &w->bias_ih, &w->bias_hh, &w->weight_hr})
      if (p->defined()) nn::init::uniform_(*p, -k, k, o.generator);
}

// One direction over x [B, T, d_model]; keep: bool [B, T, 1] where the state advances (or
// undefined: everywhere).
Tensor LSTM::run(const Tensor& x, const Weights& w, bool reverse, const Tensor& keep) const {
  const int64_t B = x.size(0), T = x.size(1), C = c_.d_hidden, P = d_direction();
  Tensor xw = ops::linear(x, w.weight_ih, w.bias_ih);  // [B, T, 4C]: the input's part, at once
  Tensor h = zeros({B, P}, x.dtype(), x.device());
  Tensor c = zeros({B, C}, x.dtype(), x.device());
  std::vector<Tensor> out(static_cast<size_t>(T));
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = reverse ? T - 1 - s : s;
    Tensor g = ops::add(xw.select(1, t), ops::linear(h, w.weight_hh, w.bias_hh));  // [B, 4C]
    Tensor i = ops::sigmoid(g.narrow(1, 0, C));
    Tensor f = ops::sigmoid(g.narrow(1, C, C));
    Tensor cand = ops::tanh(g.narrow(1, 2 * C, C));
    Tensor o = ops::sigmoid(g.narrow(1, 3 * C, C));
    Tensor c_new = ops::add(ops::mul(f, c), ops::mul(i, cand));
    if (c_.cell_clip > 0) c_new = ops::clamp(c_new, -c_.cell_clip, c_.cell_clip);
    Tensor h_new = ops::mul(o, ops::tanh(c_new));
    if (w.weight_hr.defined()) {
      h_new = ops::linear(h_new, w.weight_hr);
      if (c_.proj_clip > 0) h_new = ops::clamp(h_new, -c_.proj_clip, c_.proj_clip);
    }
    if (keep.defined()) {
      Tensor k = keep.select(1, t);  // [B, 1]
      c_new = ops::where(k, c_new, c);
      h_new = ops::where(k, h_new, h);
    }
    c = c_new;
    h = h_new;
    out[size_t(t)] = h;
  }
  return ops::stack(out, 1);  // [B, T, P]
}

Tensor LSTM::forward(const Tensor& x, nn::ForwardState& state) {
  KILN_CHECK(x.dim() == 3 && x.size(2) == c_.d_model, "lstm: expected input [B, T, ", c_.d_model,
             "], got ", x.shape());
  KILN_CHECK(!state.cache, "lstm: no KV cache (generate with use_cache = false)");
  const int64_t B = x.size(0), T = x.size(1);
  Tensor keep;
  if (state.key_padding.defined()) {
    const Tensor& kp = state.key_padding;
    KILN_CHECK(kp.dtype() == DType::boolean && kp.dim() == 2 && kp.size(0) == B && kp.size(1) == T,
               "lstm: key_padding must be bool [B, T] = [", B, ", ", T, "], got ",
               dtype_name(kp.dtype()), " ", kp.shape());
    keep = kp.unsqueeze(2);
  }
  if (T == 0) return zeros({B, 0, d_out()}, x.dtype(), x.device());
  switch (c_.direction) {
    case LSTMConfig::Direction::forward:
      return run(x, fwd, false, keep);
    case LSTMConfig::Direction::backward:
      return run(x, bwd, true, keep);
    case LSTMConfig::Direction::both:
      return ops::concat({run(x, fwd, false, keep), run(x, bwd, true, keep)}, -1);
  }
  KILN_FAIL("lstm: unknown direction");
}

}  // namespace kiln::layers
