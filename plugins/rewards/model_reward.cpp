#include "plugins/rewards/model_reward.h"

#include <algorithm>

#include "core/autograd/autograd.h"
#include "core/tensor/factory.h"
#include "core/train/run.h"

namespace kiln::rewards {

ModelReward::ModelReward(std::string run, int64_t step, int64_t batch)
    : run_(std::move(run)), step_(step), batch_(batch) {
  KILN_CHECK(!run_.empty(), "reward_model: no run directory");
  KILN_CHECK(batch_ >= 1, "reward_model: batch must be >= 1, got ", batch_);
}

ModelReward::ModelReward(std::shared_ptr<nn::Model> model, int64_t batch)
    : batch_(batch), model_(std::move(model)) {
  KILN_CHECK(model_ != nullptr, "reward_model: no model");
}

void ModelReward::prepare(const train::RewardContext& context) {
  if (model_) return;
  train::LoadRunOptions o;
  o.step = step_;
  o.progress = false;
  train::LoadedRun run = train::load_run(run_, o);
  if (context.tokenizer && run.tokenizer)
    KILN_CHECK(run.tokenizer->vocab_size() == context.tokenizer->vocab_size(),
               "reward_model: ", run_, " was trained with a tokenizer of ",
               run.tokenizer->vocab_size(), " tokens, the policy's data uses one of ",
               context.tokenizer->vocab_size(),
               "; the reward model must read the policy's token ids");
  model_ = run.model;
}

std::vector<double> ModelReward::score(const std::vector<std::vector<int32_t>>& prompts,
                                       const std::vector<std::vector<int32_t>>& completions) {
  KILN_CHECK(model_, "reward_model: score() before prepare()");
  KILN_CHECK(prompts.size() == completions.size(), "reward_model: ", prompts.size(),
             " prompts for ", completions.size(), " completions");
  autograd::NoGrad no_grad;
  const bool training = model_->is_training();
  model_->eval();
  std::vector<double> out;
  const int64_t C = model_->context_length();
  for (size_t a = 0; a < prompts.size(); a += size_t(batch_)) {
    const size_t b = std::min(prompts.size(), a + size_t(batch_));
    std::vector<std::vector<int32_t>> rows;
    int64_t L = 1;
    for (size_t i = a; i < b; ++i) {
      std::vector<int32_t> r = prompts[i];
      r.insert(r.end(), completions[i].begin(), completions[i].end());
      KILN_CHECK(!r.empty(), "reward_model: an empty prompt and completion");
      if (int64_t(r.size()) > C) r.erase(r.begin(), r.end() - C);  // keep the end it scores
      L = std::max<int64_t>(L, int64_t(r.size()));
      rows.push_back(std::move(r));
    }
    const int64_t n = int64_t(rows.size());
    std::vector<int64_t> ids(size_t(n * L), 0);
    for (int64_t i = 0; i < n; ++i)
      std::copy(rows[size_t(i)].begin(), rows[size_t(i)].end(), ids.begin() + i * L);
    nn::ForwardState st;
    Tensor y = model_->forward(from_vector<int64_t>(ids, Shape{n, L}), st);
    KILN_CHECK(y.dim() == 3 && y.size(2) == 1, "reward_model: the model gives outputs of shape ",
               y.shape(), "; a reward model gives one a position (a scalar_head)");
    const std::vector<double> v = y.to(DType::f64).contiguous().to_vector<double>();
    for (int64_t i = 0; i < n; ++i) out.push_back(v[size_t(i * L) + rows[size_t(i)].size() - 1]);
  }
  model_->train(training);
  return out;
}

}  // namespace kiln::rewards
