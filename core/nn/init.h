// Initialisation schemes, as torch.nn.init: each fills a tensor in place (any floating dtype,
// any device) from a kiln::Generator (the default one when gen is null) and returns it.
// Values are drawn in f64 and rounded once into the tensor's dtype. Draws are counter-based,
// so a seed gives the same tensor for every thread count.
//
// Fans follow PyTorch's _calculate_fan_in_and_fan_out for weights laid out [out, in, ...]:
// fan_in = in * receptive field, fan_out = out * receptive field, where the receptive field
// is the product of the dims after the first two.
#pragma once

#include <cstdint>

#include "core/tensor/random.h"
#include "core/tensor/tensor.h"

namespace kiln::nn::init {

struct Fans {
  int64_t fan_in = 0;
  int64_t fan_out = 0;
};
/// Fans of a weight of this shape; throws for fewer than 2 dims.
Fans compute_fans(const Shape& shape);

enum class FanMode { fan_in, fan_out };
enum class Nonlinearity { linear, relu, leaky_relu, tanh, sigmoid };

/// The gain PyTorch's calculate_gain recommends: 1 (linear, sigmoid), sqrt(2) (relu),
/// sqrt(2 / (1 + slope^2)) (leaky_relu, slope = param), 5/3 (tanh).
double calculate_gain(Nonlinearity nl, double param = 0.01);

Tensor zeros_(Tensor t);
Tensor ones_(Tensor t);
Tensor constant_(Tensor t, double value);
/// Uniform in [low, high).
Tensor uniform_(Tensor t, double low = 0.0, double high = 1.0, Generator* gen = nullptr);
Tensor normal_(Tensor t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
/// Normal(mean, std) truncated to [a, b] (absolute values, as PyTorch's trunc_normal_), drawn
/// by the inverse CDF: x = mean + std * Phi^-1(U(Phi(alpha), Phi(beta))), alpha and beta the
/// standardised bounds. One uniform per element, so it stays counter-based.
Tensor trunc_normal_(Tensor t, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0,
                     Generator* gen = nullptr);

/// Glorot: std = gain * sqrt(2 / (fan_in + fan_out)); uniform bound sqrt(3) * std.
Tensor xavier_uniform_(Tensor t, double gain = 1.0, Generator* gen = nullptr);
Tensor xavier_normal_(Tensor t, double gain = 1.0, Generator* gen = nullptr);

/// He: std = calculate_gain(nl, a) / sqrt(fan), fan chosen by mode; uniform bound sqrt(3) *
/// std. `a` is the negative slope of leaky_relu (PyTorch's defaults: a = 0, leaky_relu).
Tensor kaiming_uniform_(Tensor t, double a = 0.0, FanMode mode = FanMode::fan_in,
                        Nonlinearity nl = Nonlinearity::leaky_relu, Generator* gen = nullptr);
Tensor kaiming_normal_(Tensor t, double a = 0.0, FanMode mode = FanMode::fan_in,
                       Nonlinearity nl = Nonlinearity::leaky_relu, Generator* gen = nullptr);

/// GPT-2's init of the projections that write into the residual stream: normal(0, std /
/// sqrt(2 * n_layers)), since each of the n_layers blocks adds two such outputs.
Tensor scaled_residual_normal_(Tensor t, double std, int64_t n_layers, Generator* gen = nullptr);

/// While one is alive on a thread, the random initialisers (uniform_, normal_, trunc_normal_ and
/// those built on them) leave tensors as they are. `kiln spec check` and `spec dump` build a
/// model only to validate it and count its parameters; drawing 200M normals for that took seconds.
class SkipRandomInit {
 public:
  SkipRandomInit();
  ~SkipRandomInit();
  SkipRandomInit(const SkipRandomInit&) = delete;
  SkipRandomInit& operator=(const SkipRandomInit&) = delete;

 private:
  bool previous_;
};

/// Phi^-1(p), the standard normal quantile, to about 1e-15 relative (0 < p < 1).
double normal_quantile(double p);

}  // namespace kiln::nn::init
