// An example third-party plugin: a new activation layer and a new learning-rate schedule.
//
//   layer.squared_relu     relu(x)^2, the activation of Primer (So et al., 2021)
//   schedule.inverse_sqrt  linear warmup, then lr * sqrt(warmup / t), as in "Attention is all
//                          you need" (Vaswani et al., 2017)
//
// Use them in a spec:
//   plugins = { "build-plugin/example_plugin.so" },
//   ... mlp { activation = squared_relu {} } ...
//   train = { schedule = inverse_sqrt { warmup = 100 }, ... }
#include <cmath>

#include "core/kiln.h"
#include "core/nn/layer.h"
#include "core/registry/plugin.h"
#include "core/train/schedule.h"

namespace example {

using namespace kiln;

class SquaredReLU final : public nn::Layer {
 public:
  Tensor forward(const Tensor& x, nn::ForwardState&) override { return ops::square(ops::relu(x)); }
};

class InverseSqrt final : public train::Schedule {
 public:
  explicit InverseSqrt(int64_t warmup) : warmup_(warmup) {}
  double multiplier(int64_t step) const override {
    double t = double(step + 1);
    if (t <= double(warmup_)) return t / double(warmup_);
    return std::sqrt(double(warmup_) / t);
  }

 private:
  int64_t warmup_;
};

void register_components(Registry& r) {
  r.add<nn::Layer>("layer", "squared_relu", Schema("relu(x)^2, the activation of Primer (So et al. 2021)"),
                   [](const Config&) { return std::make_shared<SquaredReLU>(); });
  Schema inv("linear warmup, then the rate falls as 1/sqrt(step) (Vaswani et al. 2017)");
  inv.integer("warmup", 100, "steps of linear warmup; the multiplier is 1 at the end of it").min(1);
  r.add<train::Schedule>("schedule", "inverse_sqrt", inv,
                         [](const Config& c) { return std::make_shared<InverseSqrt>(c.get<int64_t>("warmup")); });
}

}  // namespace example

KILN_PLUGIN("example_plugin", "1.0.0", example::register_components)
