#include "tests/plugins/probes/probes_test_util.h"

#include <mutex>

#include "plugins/layers/components.h"
#include "plugins/optimizers/adamw.h"

namespace kiln::probes::testing {

std::shared_ptr<nn::Model> make_decoder(const std::string& json_fields) {
  static std::once_flag once;
  std::call_once(once, [] { layers::register_components(Registry::global()); });
  Config c =
      Config::from_json(R"({"@component": "model.decoder", )" + json_fields.substr(1), "test");
  c.set_path("model");
  auto m = Registry::global().create<nn::Model>(c);
  m->eval();
  return m;
}

double train(nn::Model& model, const std::function<Tensor(int64_t)>& batch, int64_t steps,
             double lr) {
  model.train();
  optimizers::AdamWOptions o;
  o.lr = lr;
  o.weight_decay = 0.0;
  optimizers::AdamW opt(model.parameters(), o);
  double last = 0;
  for (int64_t s = 0; s < steps; ++s) {
    Tensor tokens = batch(s);
    const int64_t T = tokens.size(1);
    nn::ForwardState st;
    Tensor logits = model.forward(tokens.narrow(1, 0, T - 1), st);
    Tensor loss = ops::cross_entropy(logits, tokens.narrow(1, 1, T - 1).contiguous());
    opt.zero_grad();
    loss.backward();
    opt.step();
    last = loss.item();
  }
  model.eval();
  return last;
}

}  // namespace kiln::probes::testing
