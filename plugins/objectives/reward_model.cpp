#include "plugins/objectives/reward_model.h"

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/index.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::objectives {

std::vector<int64_t> last_response_positions(const Tensor& targets) {
  const int64_t B = targets.size(0), T = targets.size(1);
  const std::vector<int64_t> t = targets.to(DType::i64).to_vector<int64_t>();
  std::vector<int64_t> pos(size_t(B), T - 1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = T - 1; i >= 0; --i)
      if (t[size_t(b * T + i)] != -100) {
        pos[size_t(b)] = std::min(i + 1, T - 1);
        break;
      }
  return pos;
}

Tensor RewardModelObjective::rewards(nn::Model& model, const data::Batch& batch,
                                     nn::ForwardState& state) {
  Tensor out = policy_logits(model, batch, state, "reward_model");  // [B, T, 1]
  KILN_CHECK(out.size(2) == 1, "reward_model: the model gives ", out.size(2),
             " outputs a position; a reward model needs a scalar head (one output a position): "
             "wrap the decoder in scalar_head { model = ... }");
  const int64_t B = out.size(0), T = out.size(1);
  Tensor idx = from_vector<int64_t>(last_response_positions(batch.targets), Shape{B, 1});
  return ops::gather(out.reshape({B, T}), 1, idx).reshape({B});
}

train::LossOutput RewardModelObjective::compute(nn::Model& model, const data::Batch& batch,
                                                nn::ForwardState& state) {
  const int64_t P = check_pairs(batch, "reward_model");
  Tensor r = rewards(model, batch, state);
  Tensor diff = ops::sub(r.narrow(0, 0, P), r.narrow(0, P, P));
  train::LossOutput out;
  out.loss = ops::mean(ops::softplus(ops::neg(diff)));  // -log sigma(r_c - r_r)
  out.tokens = P;
  autograd::NoGrad no_grad;
  const std::vector<double> rv = r.to(DType::f64).to_vector<double>();
  double sc = 0, sr = 0, acc = 0;
  for (int64_t i = 0; i < P; ++i) sc += rv[i], sr += rv[P + i], acc += rv[i] > rv[P + i];
  out.metrics["accuracy"] = acc / P;
  out.metrics["rewards/chosen"] = sc / P;
  out.metrics["rewards/rejected"] = sr / P;
  out.metrics["rewards/margins"] = (sc - sr) / P;
  return out;
}

}  // namespace kiln::objectives
