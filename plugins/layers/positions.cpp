#include "plugins/layers/positions.h"

#include <cmath>

#include "core/autograd/autograd.h"
#include "core/nn/init.h"
#include "core/ops/attention.h"
#include "core/ops/elementwise.h"
#include "core/ops/index.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::layers {

// ---- token embedding ------------------------------------------------------------------------

TokenEmbedding::TokenEmbedding(int64_t vocab, int64_t d_model) {
  KILN_CHECK(vocab >= 1 && d_model >= 1, "token_embedding: vocab and d_model must be >= 1, got ",
             vocab, " and ", d_model);
  weight = register_parameter("weight", zeros({vocab, d_model}));
  init_weights(current_init());
}

Tensor TokenEmbedding::forward(const Tensor& ids, nn::ForwardState&) {
  return ops::embedding(weight, ids);
}

void TokenEmbedding::init_weights(const InitOptions& o) {
  nn::init::normal_(weight, 0.0, o.std, o.generator);
}

// ---- where the rows sit ---------------------------------------------------------------------

Tensor PositionInfo::resolved() const {
  if (positions.defined()) return positions;
  return arange(double(offset), double(offset + T), 1.0, DType::i64);
}

int64_t PositionInfo::max_position() const {
  if (!positions.defined()) return offset + T - 1;
  if (positions.numel() == 0) return -1;
  return int64_t(ops::max(positions).item());
}

namespace {

PositionInfo where_of(const Tensor& x, const nn::ForwardState& state) {
  PositionInfo w;
  w.positions = state.positions;
  w.offset = state.cache ? state.cache->length : 0;
  w.T = x.dim() >= 2 ? x.size(-2) : 0;
  return w;
}

// Rows of `table` [N, d] for the positions, after checking they exist.
Tensor lookup(const char* scheme, const Tensor& table, const PositionInfo& where) {
  const int64_t n = table.size(0);
  const int64_t top = where.max_position();
  KILN_CHECK(top < n, scheme, " positions: position ", top, " is beyond the model's context of ", n,
             " positions (positions run from 0 to ", n - 1, ")");
  if (where.positions.defined())
    KILN_CHECK(where.positions.numel() == 0 || ops::min(where.positions).item() >= 0, scheme,
               " positions: positions must be >= 0");
  return ops::embedding(table, where.resolved());
}

}  // namespace

Tensor Positions::embed(const PositionInfo&) const {
  return Tensor();
}

Tensor Positions::forward(const Tensor& x, nn::ForwardState& state) {
  if (!is_absolute()) return x;
  return ops::add(x, embed(where_of(x, state)));
}

// ---- learned --------------------------------------------------------------------------------

LearnedPositions::LearnedPositions(int64_t context, int64_t d_model) {
  KILN_CHECK(context >= 1 && d_model >= 1,
             "learned positions: context and d_model must be >= 1, got ", context, " and ",
             d_model);
  weight = register_parameter("weight", zeros({context, d_model}));
  init_weights(current_init());
}

Tensor LearnedPositions::embed(const PositionInfo& where) const {
  return lookup("learned", weight, where);
}

void LearnedPositions::init_weights(const InitOptions& o) {
  nn::init::normal_(weight, 0.0, o.std, o.generator);
}

// ---- sinusoidal -----------------------------------------------------------------------------

SinusoidalPositions::SinusoidalPositions(int64_t context, int64_t d_model, double base) {
  KILN_CHECK(context >= 1 && d_model >= 2 && d_model % 2 == 0,
             "sinusoidal positions: need context >= 1 and an even d_model, got context ", context,
             " and d_model ", d_model);
  KILN_CHECK(std::isfinite(base) && base > 1, "sinusoidal positions: base must be > 1, got ", base);
  std::vector<double> t(size_t(context * d_model));
  for (int64_t p = 0; p < context; ++p)
    for (int64_t i = 0; i < d_model / 2; ++i) {
      const double angle = double(p) * std::pow(base, -2.0 * double(i) / double(d_model));
      t[size_t(p * d_model + 2 * i)] = std::sin(angle);
      t[size_t(p * d_model + 2 * i + 1)] = std::cos(angle);
    }
  table_ = register_buffer("table", from_vector(t, {context, d_model}).to(DType::f32),
                           /*persistent=*/false);
}

Tensor SinusoidalPositions::embed(const PositionInfo& where) const {
  return lookup("sinusoidal", table_, where);
}

// ---- rotary ---------------------------------------------------------------------------------

RotaryPositions::RotaryPositions(double theta, double fraction)
    : theta_(theta), fraction_(fraction) {
  KILN_CHECK(std::isfinite(theta) && theta > 0, "rope: theta must be > 0, got ", theta);
  KILN_CHECK(fraction > 0 && fraction <= 1, "rope: fraction must be in (0, 1], got ", fraction);
}

Tensor RotaryPositions::rotate(const Tensor& x, const PositionInfo& where) const {
  if (!where.positions.defined()) {
    ops::RotaryOptions o;
    o.theta = theta_;
    o.fraction = fraction_;
    o.position_offset = where.offset;
    return ops::rotary_embedding(x, o);
  }
  // Explicit positions: the same rotation from tables of cos and sin gathered per row, with
  // elementwise ops (out_i = x_i cos - x_{i+R/2} sin, out_{i+R/2} = x_{i+R/2} cos + x_i sin).
  const int64_t D = x.size(-1), T = x.size(-2);
  int64_t R = int64_t(std::floor(fraction_ * double(D)));
  R -= R % 2;
  if (R == 0) return x;
  const int64_t half = R / 2;
  const Tensor& pos = where.positions;
  KILN_CHECK(pos.size(-1) == T && (pos.dim() == 1 || (pos.dim() == 2 && pos.size(0) == x.size(0))),
             "rope: positions of shape ", pos.shape(), " do not match queries of shape ", x.shape(),
             " (expected [B, T] or [T])");
  std::vector<int64_t> p = pos.to_vector<int64_t>();
  std::vector<double> c(p.size() * size_t(half)), s(c.size());
  for (size_t r = 0; r < p.size(); ++r)
    for (int64_t i = 0; i < half; ++i) {
      const double a = double(p[r]) * std::pow(theta_, -2.0 * double(i) / double(R));
      c[r * size_t(half) + size_t(i)] = std::cos(a);
      s[r * size_t(half) + size_t(i)] = std::sin(a);
    }
  // [B, 1, T, half] or [T, half]: broadcast over heads.
  Shape ts = pos.dim() == 2 ? Shape{pos.size(0), 1, T, half} : Shape{T, half};
  Tensor cos_t = from_vector(c, ts).to(x.dtype()), sin_t = from_vector(s, ts).to(x.dtype());
  Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  std::vector<Tensor> parts{ops::sub(ops::mul(x1, cos_t), ops::mul(x2, sin_t)),
                            ops::add(ops::mul(x2, cos_t), ops::mul(x1, sin_t))};
  if (R < D) parts.push_back(x.narrow(-1, R, D - R));
  return ops::concat(parts, -1);
}

// ---- ALiBi ----------------------------------------------------------------------------------

std::vector<double> AlibiPositions::slopes(int64_t H) {
  auto power_of_two = [](int64_t n) {
    std::vector<double> out;
    const double start = std::pow(2.0, -8.0 / double(n));
    for (int64_t h = 1; h <= n; ++h) out.push_back(std::pow(start, double(h)));
    return out;
  };
  int64_t n = 1;
  while (n * 2 <= H) n *= 2;
  std::vector<double> out = power_of_two(n);
  if (n < H) {
    std::vector<double> extra = power_of_two(2 * n);
    for (int64_t i = 0; int64_t(out.size()) < H; i += 2) out.push_back(extra[size_t(i)]);
  }
  return out;
}

Tensor AlibiPositions::attention_bias(int64_t H, int64_t T, int64_t S, DType dtype) {
  if (bias_.defined() && H == H_ && T == T_ && S == S_ && bias_.dtype() == dtype) return bias_;
  // Query t of this step sits at index S - T + t of the keys: distance (S - T + t) - j.
  const std::vector<double> m = slopes(H);
  std::vector<double> b(size_t(H * T * S));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < S; ++j)
        b[size_t((h * T + t) * S + j)] = -m[size_t(h)] * (bidirectional_
                                                               ? std::abs(double(S - T + t - j))
                                                               : double(S - T + t - j));
  bias_ = from_vector(b, {1, H, T, S}).to(dtype);
  H_ = H, T_ = T, S_ = S;
  return bias_;
}

// ---- T5 relative position bias ----------------------------------------------------------------

RelativePositionBias::RelativePositionBias(int64_t n_heads, int64_t num_buckets,
                                           int64_t max_distance, bool bidirectional)
    : num_buckets_(num_buckets), max_distance_(max_distance), bidirectional_(bidirectional) {
  KILN_CHECK(n_heads >= 1, "t5_bias: n_heads must be >= 1, got ", n_heads);
  KILN_CHECK(num_buckets >= (bidirectional ? 4 : 2),
             "t5_bias: num_buckets must be >= ", bidirectional ? 4 : 2, ", got ", num_buckets);
  const int64_t exact = (bidirectional ? num_buckets / 2 : num_buckets) / 2;
  KILN_CHECK(max_distance > exact, "t5_bias: max_distance (", max_distance,
             ") must exceed the exact range of ", exact, " distances");
  weight = register_parameter("weight", zeros({num_buckets, n_heads}));
  init_weights(current_init());
}

void RelativePositionBias::init_weights(const InitOptions& o) {
  nn::init::normal_(weight, 0.0, o.std, o.generator);
}

int64_t RelativePositionBias::bucket(int64_t relative, bool bidirectional, int64_t num_buckets,
                                     int64_t max_distance) {
  int64_t out = 0;
  int64_t n = num_buckets;
  if (bidirectional) {
    n /= 2;
    if (relative > 0) out += n;
    relative = relative < 0 ? -relative : relative;
  } else {
    relative = relative < 0 ? -relative : 0;  // keys after the query: distance 0
  }
  const int64_t exact = n / 2;
  if (relative < exact) return out + relative;
  // As Hugging Face computes it, in float32, truncated toward zero.
  const float scaled = std::log(float(relative) / float(exact)) /
                       float(std::log(double(max_distance) / double(exact))) * float(n - exact);
  return out + std::min<int64_t>(exact + int64_t(scaled), n - 1);
}

Tensor RelativePositionBias::attention_bias(int64_t H, int64_t T, int64_t S, DType dtype) {
  KILN_CHECK(H == weight.size(1), "t5_bias: the table has ", weight.size(1),
             " heads but the attention layer has ", H);
  if (!buckets_.defined() || T != T_ || S != S_) {
    std::vector<int64_t> b(size_t(T * S));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < S; ++j)
        b[size_t(t * S + j)] = bucket(j - (S - T + t), bidirectional_, num_buckets_, max_distance_);
    buckets_ = from_vector(b, {T, S}).to(weight.device());
    T_ = T, S_ = S;
  }
  Tensor bias = ops::embedding(weight, buckets_);  // [T, S, H]
  if (bias.dtype() != dtype) bias = bias.to(dtype);
  return bias.permute({2, 0, 1}).unsqueeze(0).contiguous();
}

}  // namespace kiln::layers
