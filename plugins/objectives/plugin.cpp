// The objectives plugin: training losses.
#include "core/registry/plugin.h"
#include "plugins/objectives/causal_lm.h"

namespace kiln::objectives {
namespace {

void register_components(Registry& r) {
  Schema causal(
      "next-token prediction: cross-entropy of each position's logits against the next token "
      "(targets of -100 are skipped)");
  causal
      .number("label_smoothing", 0.0,
              "mix the one-hot target with the uniform distribution by this much")
      .range(0, 1);
  r.add<train::Objective>("objective", "causal_lm", causal, [](const Config& c) {
    CausalLMOptions o;
    o.label_smoothing = c.get<double>("label_smoothing");
    return std::make_shared<CausalLM>(o);
  });
}

}  // namespace
}  // namespace kiln::objectives

KILN_PLUGIN("kiln_objectives", "0.1.0", kiln::objectives::register_components)
