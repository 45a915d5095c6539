// A long short-term memory layer (Hochreiter & Schmidhuber 1997, with forget gates as Gers et
// al. 2000), forward, backward or both directions, with an optional projection of the hidden
// state (LSTMP, Sak et al. 2014; ELMo's 4096 cells projected to 512) and ELMo's clipping of
// cells and projections. The recurrence is written with ops, one step at a time, so autograd
// differentiates it as it is (no fused kernel).
//
// Per step t, gates in PyTorch's order (i, f, g, o), with h the previous output:
//   [i f g o] = x_t W_ih^T + b_ih + h W_hh^T + b_hh
//   c = sigmoid(f) * c + sigmoid(i) * tanh(g)        (clipped to +-cell_clip when > 0)
//   h = sigmoid(o) * tanh(c), projected h = h W_hr^T (clipped to +-proj_clip when > 0)
// The backward direction runs t = T-1 .. 0. Where state.key_padding is false the state is
// carried over unchanged, so a padded row gives the outputs of its real tokens alone, in both
// directions (the backward direction starts at the row's last real token).
//
// Parameters (PyTorch's torch.nn.LSTM names for one layer; "_reverse" for the backward
// direction): weight_ih [4 C, d_model], weight_hh [4 C, P], bias_ih [4 C], bias_hh [4 C],
// weight_hr [P, C] (with a projection), where C = d_hidden and P = d_proj (else C).
// Output: [B, T, P], or with both directions [B, T, 2 P] (forward, then backward).
#pragma once

#include <memory>

#include "core/nn/layer.h"
#include "plugins/layers/common.h"

namespace kiln::layers {

struct LSTMConfig {
  enum class Direction { forward, backward, both };
  int64_t d_model = 0;   ///< input width
  int64_t d_hidden = 0;  ///< cells (0 = d_model)
  int64_t d_proj = 0;    ///< > 0: project the hidden state to this width (LSTMP)
  Direction direction = Direction::forward;
  bool bias = true;
  double cell_clip = 0.0;  ///< > 0: clip the cells to [-cell_clip, cell_clip]
  double proj_clip = 0.0;  ///< > 0: clip the projected state likewise
};

class LSTM : public nn::Layer, public Initializable {
 public:
  explicit LSTM(const LSTMConfig& config);
  /// x [B, T, d_model] -> [B, T, d_out()].
  Tensor forward(const Tensor& x, nn::ForwardState& state) override;
  /// PyTorch's: uniform(-1/sqrt(d_hidden), 1/sqrt(d_hidden)) for every parameter.
  void init_weights(const InitOptions& o) override;
  const LSTMConfig& config() const { return c_; }
  /// Output width of one direction (d_proj, else d_hidden).
  int64_t d_direction() const { return c_.d_proj > 0 ? c_.d_proj : c_.d_hidden; }
  int64_t d_out() const;

  struct Weights {
    nn::Parameter weight_ih, weight_hh, bias_ih, bias_hh, weight_hr;
  };
  Weights fwd, bwd;  // bwd: only with a backward direction

 private:
  Weights make_weights(const std::string& suffix);
  Tensor run(const Tensor& x, const Weights& w, bool reverse, const Tensor& keep) const;

  LSTMConfig c_;
};

}  // namespace kiln::layers
