#include "tests/plugins/layers/layers_test_util.h"

#include <cmath>
#include <mutex>

namespace kiln::layers::testing {
namespace {

// x -> x^2: an activation layer from "another plugin".
class Square : public nn::Layer {
 public:
  Tensor forward(const Tensor& x, nn::ForwardState&) override { return ops::mul(x, x); }
};

}  // namespace

void register_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    Registry& r = Registry::global();
    register_components(r);
    r.add<nn::Layer>("layer", "test_square", Schema("x^2, a third-party activation for tests"),
                     [](const Config&) { return std::make_shared<Square>(); });
  });
}

Config config(const std::string& json) {
  register_once();
  Config c = Config::from_json(json, "test");
  c.set_path("model");
  return c;
}

std::shared_ptr<nn::Model> make_model(const std::string& json) {
  return Registry::global().create<nn::Model>(config(json));
}

std::shared_ptr<nn::Layer> make(const std::string& json) {
  return Registry::global().create<nn::Layer>(config(json));
}

Tensor token_ids(const std::vector<int64_t>& ids, const Shape& shape) {
  return from_vector(ids, shape);
}

Tensor random_ids(int64_t vocab, const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return randint(0, vocab, shape, DType::i64, &g);
}

Vec ref_linear(const Vec& x, const Vec& w, const Vec& b, int64_t N, int64_t in, int64_t out) {
  Vec y(size_t(N * out));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < out; ++o) {
      double s = b.empty() ? 0.0 : b[size_t(o)];
      for (int64_t i = 0; i < in; ++i) s += x[size_t(n * in + i)] * w[size_t(o * in + i)];
      y[size_t(n * out + o)] = s;
    }
  return y;
}

Vec ref_layer_norm(const Vec& x, const Vec& w, const Vec& b, int64_t d, double eps) {
  Vec y(x.size());
  for (size_t r = 0; r < x.size() / size_t(d); ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += x[r * size_t(d) + size_t(i)];
    mean /= double(d);
    for (int64_t i = 0; i < d; ++i) var += std::pow(x[r * size_t(d) + size_t(i)] - mean, 2);
    var /= double(d);
    for (int64_t i = 0; i < d; ++i) {
      size_t k = r * size_t(d) + size_t(i);
      y[k] = (x[k] - mean) / std::sqrt(var + eps) * w[size_t(i)] + (b.empty() ? 0.0 : b[size_t(i)]);
    }
  }
  return y;
}

Vec ref_rms_norm(const Vec& x, const Vec& w, int64_t d, double eps) {
  Vec y(x.size());
  for (size_t r = 0; r < x.size() / size_t(d); ++r) {
    double ms = 0;
    for (int64_t i = 0; i < d; ++i) ms += std::pow(x[r * size_t(d) + size_t(i)], 2);
    ms /= double(d);
    for (int64_t i = 0; i < d; ++i) {
      size_t k = r * size_t(d) + size_t(i);
      y[k] = x[k] / std::sqrt(ms + eps) * w[size_t(i)];
    }
  }
  return y;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void randomize(nn::Module& m, uint64_t seed, double scale) {
  m.to(DType::f64);
  autograd::NoGrad ng;
  for (auto& [n, p] : m.named_parameters()) {
    Tensor v = randn64(p.shape(), seed++);
    const bool norm = n.find("ln") != std::string::npos || n.find("norm") != std::string::npos;
    if (norm)  // near the identity, so that a norm's bias does not swamp what it normalised
      v = n.ends_with("weight") ? ops::add(ops::mul(v, 0.1), 1.0) : ops::mul(v, 0.1);
    else
      v = ops::mul(v, scale);
    Tensor dst = p;
    dst.copy_(v);
  }
}

std::vector<Tensor> with_parameters(const nn::Module& m, std::vector<Tensor> first) {
  for (auto& [n, p] : m.named_parameters()) first.push_back(p);
  return first;
}

int64_t count_under(const nn::Module& m, const std::string& prefix) {
  int64_t n = 0;
  for (auto& [name, p] : m.named_parameters())
    if (name.starts_with(prefix)) n += p.numel();
  return n;
}

Vec ref_alibi_slopes(int64_t H) {
  Vec m;
  for (int64_t h = 1; h <= H; ++h) m.push_back(std::pow(2.0, -8.0 * double(h) / double(H)));
  return m;
}

namespace {

// Rotates one head vector v[D] at position p: pairs (i, i + R/2) by angle p theta^(-2i/R).
void rotate(double* v, int64_t D, int64_t p, double theta, double fraction) {
  int64_t R = int64_t(std::floor(fraction * double(D)));
  R -= R % 2;
  for (int64_t i = 0; i < R / 2; ++i) {
    const double a = double(p) * std::pow(theta, -2.0 * double(i) / double(R));
    const double x1 = v[i], x2 = v[i + R / 2];
    v[i] = x1 * std::cos(a) - x2 * std::sin(a);
    v[i + R / 2] = x2 * std::cos(a) + x1 * std::sin(a);
  }
}

void rms(double* v, int64_t D, const Vec& w, double eps) {
  double ms = 0;
  for (int64_t i = 0; i < D; ++i) ms += v[i] * v[i];
  ms /= double(D);
  for (int64_t i = 0; i < D; ++i) v[i] = v[i] / std::sqrt(ms + eps) * w[size_t(i)];
}

}  // namespace

Vec ref_attention_layer(const Vec& x, const Vec& w_qkv, const Vec& b_qkv, const Vec& w_o,
                        const Vec& b_o, const RefAttention& a) {
  const int64_t B = a.B, T = a.T, C = a.C, H = a.H, Hkv = a.Hkv, D = a.D;
  const int64_t W = (H + 2 * Hkv) * D;
  Vec qkv = ref_linear(x, w_qkv, b_qkv, B * T, C, W);
  const double scale = a.scale > 0 ? a.scale : 1.0 / std::sqrt(double(D));
  Vec slopes = a.alibi ? ref_alibi_slopes(H) : Vec();
  Vec z(size_t(B * T * H * D), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    // Per-head q, k after qk-norm and rotation.
    auto head = [&](int64_t t, int64_t col0) {
      Vec v(qkv.begin() + (b * T + t) * W + col0, qkv.begin() + (b * T + t) * W + col0 + D);
      return v;
    };
    auto pos = [&](int64_t t) { return a.positions.empty() ? t : a.positions[size_t(b * T + t)]; };
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / (H / Hkv);
      for (int64_t i = 0; i < T; ++i) {
        Vec q = head(i, h * D);
        if (!a.q_norm.empty()) rms(q.data(), D, a.q_norm, a.qk_eps);
        if (a.rope_theta > 0) rotate(q.data(), D, pos(i), a.rope_theta, a.rope_fraction);
        Vec s(size_t(T), -INFINITY);
        double m = -INFINITY;
        for (int64_t j = 0; j < T; ++j) {
          bool visible = !a.causal || (j <= i && (a.window == 0 || j > i - a.window));
          if (!a.segments.empty())
            visible = visible && a.segments[size_t(b * T + i)] == a.segments[size_t(b * T + j)];
          if (!visible) continue;
          Vec k = head(j, H * D + g * D);
          if (!a.k_norm.empty()) rms(k.data(), D, a.k_norm, a.qk_eps);
          if (a.rope_theta > 0) rotate(k.data(), D, pos(j), a.rope_theta, a.rope_fraction);
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += q[size_t(d)] * k[size_t(d)];
          s[size_t(j)] = dot * scale + (a.alibi ? -slopes[size_t(h)] * (a.causal ? double(i - j) : std::abs(double(i - j)))
                                                 : 0.0);
          m = std::max(m, s[size_t(j)]);
        }
        double sum = 0;
        for (double& e : s) sum += e = std::isinf(e) ? 0.0 : std::exp(e - m);
        for (int64_t j = 0; j < T; ++j) {
          if (s[size_t(j)] == 0) continue;
          Vec v = head(j, (H + Hkv) * D + g * D);
          for (int64_t d = 0; d < D; ++d)
            z[size_t(((b * T + i) * H + h) * D + d)] += s[size_t(j)] / sum * v[size_t(d)];
        }
      }
    }
  }
  return ref_linear(z, w_o, b_o, B * T, H * D, C);
}

}  // namespace kiln::layers::testing
