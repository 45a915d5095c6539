// Helpers of the layers plugin's tests: the components registered once, configs from JSON,
// and plain-loop references (row-major std::vector<double>, no kiln ops) that the layers are
// checked against.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/kiln.h"
#include "plugins/layers/attention.h"
#include "plugins/layers/block.h"
#include "plugins/layers/components.h"
#include "plugins/layers/decoder.h"
#include "plugins/layers/mlp.h"
#include "plugins/layers/norm.h"
#include "plugins/layers/positions.h"
#include "tests/core/test_util.h"

namespace kiln::layers::testing {

using namespace kiln::testing;  // NOLINT
using Vec = std::vector<double>;

/// Registers the plugin's components, and layer.test_square (x -> x^2, a stand-in for a third
/// party's activation layer), into the global registry once.
void register_once();

/// A component config from JSON ({"@component": "model.decoder", ...}).
Config config(const std::string& json);
/// Builds a component of the given interface from JSON.
std::shared_ptr<nn::Model> make_model(const std::string& json);
std::shared_ptr<nn::Layer> make(const std::string& json);

/// Token ids i64 of a shape.
Tensor token_ids(const std::vector<int64_t>& ids, const Shape& shape);
/// Random token ids in [0, vocab).
Tensor random_ids(int64_t vocab, const Shape& shape, uint64_t seed);

/// A tensor's values as doubles.
inline Vec values(const Tensor& t) {
  return t.to_vector<double>();
}
/// x [N, in] @ w[out, in]^T + b[out] (b may be empty).
Vec ref_linear(const Vec& x, const Vec& w, const Vec& b, int64_t N, int64_t in, int64_t out);
/// Per row of d: (x - mean) / sqrt(var + eps) * w + b (b may be empty).
Vec ref_layer_norm(const Vec& x, const Vec& w, const Vec& b, int64_t d, double eps);
/// Per row of d: x / sqrt(mean(x^2) + eps) * w.
Vec ref_rms_norm(const Vec& x, const Vec& w, int64_t d, double eps);

/// Everything the plain-loop attention layer needs besides the weights.
struct RefAttention {
  int64_t B = 1, T = 1, C = 1, H = 1, Hkv = 1, D = 1;
  bool causal = true;
  int64_t window = 0;
  double scale = 0;       // 0: 1/sqrt(D)
  double rope_theta = 0;  // > 0: rotary with this theta
  double rope_fraction = 1;
  bool alibi = false;
  Vec q_norm, k_norm;  // qk-norm weights [D] when not empty
  double qk_eps = 1e-6;
  std::vector<int64_t> segments;   // [B, T] document ids when not empty
  std::vector<int64_t> positions;  // [B, T] positions when not empty (else 0..T-1)
};
/// Self-attention of x [B, T, C] with the given weights, as plain loops.
Vec ref_attention_layer(const Vec& x, const Vec& w_qkv, const Vec& b_qkv, const Vec& w_o,
                        const Vec& b_o, const RefAttention& a);

/// ALiBi slopes by Press et al.'s recipe, written out independently of the plugin.
Vec ref_alibi_slopes(int64_t H);

/// The message of the kiln::Error that fn throws ("" when it throws none).
std::string error_of(const std::function<void()>& fn);
/// Converts m to f64 and fills every parameter with normal values times `scale` (norm weights
/// 1 + 0.1 normal, norm biases 0.1 normal), so that tests see weights away from their initial
/// zeros and ones.
void randomize(nn::Module& m, uint64_t seed, double scale = 0.5);
/// Every parameter of m, as gradcheck inputs after `first`.
std::vector<Tensor> with_parameters(const nn::Module& m, std::vector<Tensor> first = {});
/// Sum of the elements' counts of named parameters whose names start with prefix.
int64_t count_under(const nn::Module& m, const std::string& prefix);

}  // namespace kiln::layers::testing
