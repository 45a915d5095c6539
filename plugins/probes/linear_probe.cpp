#include "plugins/probes/linear_probe.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "core/nn/hooks.h"
#include "core/tensor/factory.h"
#include "plugins/probes/common.h"

namespace kiln::probes {

int64_t SoftmaxRegression::predict(const double* x) const {
  int64_t best = 0;
  double best_s = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < K; ++k) {
    double s = b[size_t(k)];
    for (int64_t j = 0; j < d; ++j)
      s += w[size_t(k * d + j)] * (x[j] - mean[size_t(j)]) / scale[size_t(j)];
    if (s > best_s) best_s = s, best = k;
  }
  return best;
}

SoftmaxRegression fit_softmax_regression(const std::vector<double>& x_raw,
                                         const std::vector<int64_t>& y, int64_t d, int64_t K,
                                         const LinearProbeOptions& o) {
  const int64_t N = int64_t(y.size());
  KILN_CHECK(N > 0 && int64_t(x_raw.size()) == N * d, "linear_probe: ", x_raw.size(),
             " feature values for ", N, " labels of ", d, " features");
  SoftmaxRegression m;
  m.d = d;
  m.K = K;
  m.mean.assign(size_t(d), 0);
  m.scale.assign(size_t(d), 0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < d; ++j) m.mean[size_t(j)] += x_raw[size_t(i * d + j)] / double(N);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < d; ++j) {
      const double c = x_raw[size_t(i * d + j)] - m.mean[size_t(j)];
      m.scale[size_t(j)] += c * c / double(N);
    }
  for (double& s : m.scale) s = std::sqrt(s) + 1e-6;
  std::vector<double> x(x_raw.size());
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < d; ++j)
      x[size_t(i * d + j)] = (x_raw[size_t(i * d + j)] - m.mean[size_t(j)]) / m.scale[size_t(j)];

  // Full-batch Adam on the mean cross-entropy + weight_decay / 2 |W|^2 (a convex problem).
  const size_t P = size_t(K * d + K);
  std::vector<double> theta(P, 0), g(P), m1(P, 0), m2(P, 0), p(static_cast<size_t>(K));
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  for (int64_t step = 1; step <= o.steps; ++step) {
    std::fill(g.begin(), g.end(), 0.0);
    for (int64_t i = 0; i < N; ++i) {
      const double* xi = x.data() + i * d;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < K; ++k) {
        double s = theta[size_t(K * d + k)];
        for (int64_t j = 0; j < d; ++j) s += theta[size_t(k * d + j)] * xi[j];
        p[size_t(k)] = s;
        mx = std::max(mx, s);
      }
      double z = 0;
      for (double& v : p) z += v = std::exp(v - mx);
      for (int64_t k = 0; k < K; ++k) {
        const double e = (p[size_t(k)] / z - (y[size_t(i)] == k ? 1.0 : 0.0)) / double(N);
        for (int64_t j = 0; j < d; ++j) g[size_t(k * d + j)] += e * xi[j];
        g[size_t(K * d + k)] += e;
      }
    }
    for (size_t q = 0; q < size_t(K * d); ++q) g[q] += o.weight_decay * theta[q];
    const double c1 = 1 - std::pow(b1, double(step)), c2 = 1 - std::pow(b2, double(step));
    for (size_t q = 0; q < P; ++q) {
      m1[q] = b1 * m1[q] + (1 - b1) * g[q];
      m2[q] = b2 * m2[q] + (1 - b2) * g[q] * g[q];
      theta[q] -= o.lr * (m1[q] / c1) / (std::sqrt(m2[q] / c2) + eps);
    }
  }
  m.w.assign(theta.begin(), theta.begin() + K * d);
  m.b.assign(theta.begin() + K * d, theta.end());
  return m;
}

namespace {

struct Rows {
  std::vector<double> x;  // [N, d]
  std::vector<int64_t> y;
};

double accuracy(const SoftmaxRegression& m, const Rows& r) {
  int64_t right = 0;
  for (size_t i = 0; i < r.y.size(); ++i)
    right += m.predict(r.x.data() + i * size_t(m.d)) == r.y[i];
  return r.y.empty() ? 0.0 : double(right) / double(r.y.size());
}

}  // namespace

LinearProbeResult linear_probe(nn::Model& model, const std::vector<ProbeExample>& examples,
                               const LinearProbeOptions& o) {
  KILN_CHECK(examples.size() >= 2, "linear_probe: need at least 2 labelled examples, got ",
             examples.size());
  KILN_CHECK(o.test_fraction > 0 && o.test_fraction < 1,
             "linear_probe: test_fraction must be in (0, 1), got ", o.test_fraction);
  const int64_t L = count_layers(model);
  std::vector<std::string> hooks, names;
  if (o.include_embed) hooks.push_back(block_hook(0, "hook_resid_pre")), names.push_back("embed");
  for (int64_t l = 0; l < L; ++l)
    hooks.push_back(block_hook(l, o.hook)), names.push_back(std::to_string(l));
  for (const std::string& h : hooks) model.hook_point(h);  // a clear error for a wrong hook name

  // Labels as dense classes 0..K-1 in order of first appearance of their sorted values.
  std::map<int64_t, int64_t> classes;
  for (const ProbeExample& e : examples) {
    KILN_CHECK(!e.ids.empty(), "linear_probe: an example has no token");
    KILN_CHECK(e.labels.size() == 1 || e.labels.size() == e.ids.size(),
               "linear_probe: an example of ", e.ids.size(), " tokens has ", e.labels.size(),
               " labels (expected 1 or one per token)");
    for (int64_t y : e.labels)
      if (y >= 0) classes.emplace(y, 0);
  }
  KILN_CHECK(classes.size() >= 2, "linear_probe: the labels take ", classes.size(),
             " value(s); need 2 or more");
  int64_t K = 0;
  for (auto& [v, k] : classes) k = K++;

  std::vector<size_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(o.seed);
  std::shuffle(order.begin(), order.end(), rng);
  const size_t n_test = std::clamp<size_t>(
      size_t(std::lround(o.test_fraction * double(examples.size()))), 1, examples.size() - 1);

  std::vector<Rows> train(hooks.size()), test(hooks.size());
  int64_t d = 0;
  std::vector<int64_t> dims(hooks.size(), 0);
  for (size_t rank = 0; rank < order.size(); ++rank) {
    const ProbeExample& e = examples[order[rank]];
    const bool is_test = rank < n_test;
    Tensor tokens = from_vector(e.ids, {1, int64_t(e.ids.size())});
    nn::CacheRun run = nn::run_with_cache(model, tokens, nn::names_in(hooks));
    const int64_t T = int64_t(e.ids.size());
    for (size_t h = 0; h < hooks.size(); ++h) {
      Tensor a = run.cache.at(hooks[h]).to(DType::f64).reshape({T, -1}).contiguous();
      d = dims[h] = a.size(1);
      const std::vector<double> v = a.to_vector<double>();
      Rows& rows = is_test ? test[h] : train[h];
      for (int64_t t = 0; t < T; ++t) {
        const int64_t y =
            e.labels.size() == 1 ? (t == T - 1 ? e.labels[0] : -1) : e.labels[size_t(t)];
        if (y < 0) continue;
        rows.x.insert(rows.x.end(), v.begin() + t * d, v.begin() + (t + 1) * d);
        rows.y.push_back(classes.at(y));
      }
    }
  }
  LinearProbeResult r;
  r.classes = K;
  r.train_tokens = int64_t(train[0].y.size());
  r.test_tokens = int64_t(test[0].y.size());
  KILN_CHECK(r.train_tokens > 0 && r.test_tokens > 0, "linear_probe: ", r.train_tokens,
             " training and ", r.test_tokens, " held-out labelled tokens; need both");
  std::vector<int64_t> counts(size_t(K), 0);
  for (int64_t y : train[0].y) ++counts[size_t(y)];
  const int64_t majority = std::max_element(counts.begin(), counts.end()) - counts.begin();
  r.majority =
      double(std::count(test[0].y.begin(), test[0].y.end(), majority)) / double(r.test_tokens);

  // The control task: the same tokens with their labels shuffled (one permutation, shared by
  // every layer, applied separately within the training and held-out tokens).
  std::vector<int64_t> y_train = train[0].y, y_test = test[0].y;
  std::shuffle(y_train.begin(), y_train.end(), rng);
  std::shuffle(y_test.begin(), y_test.end(), rng);
  for (size_t h = 0; h < hooks.size(); ++h) {
    LinearProbeLayer layer;
    layer.name = names[h];
    layer.hook = hooks[h];
    SoftmaxRegression m = fit_softmax_regression(train[h].x, train[h].y, dims[h], K, o);
    layer.train_accuracy = accuracy(m, train[h]);
    layer.accuracy = accuracy(m, test[h]);
    Rows ctrain{train[h].x, y_train}, ctest{test[h].x, y_test};
    SoftmaxRegression c = fit_softmax_regression(ctrain.x, ctrain.y, dims[h], K, o);
    layer.control_accuracy = accuracy(c, ctest);
    r.layers.push_back(layer);
  }
  return r;
}

}  // namespace kiln::probes
