// The evaluators plugin: registers the evaluators of this folder.
#include "core/registry/plugin.h"
#include "plugins/evaluators/perplexity.h"

namespace kiln::evaluators {
namespace {

template <class T>
std::optional<T> optional_int(const Config& c, const std::string& key) {
  const Config* v = c.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return T(v->as_int());
}

void register_perplexity(Registry& r) {
  Schema s(
      "token perplexity, bits per byte and word perplexity of held-out text "
      "(lm-evaluation-harness's "
      "rolling windows, or Hugging Face's strided sliding window)");
  s.string("name", std::string("perplexity"), "the name in the results table and results.json");
  s.optional("path", ParamType::string(),
             "a text file or glob, one document a file (default: the run's val split, cut at EOS)");
  s.choice("method", {"rolling", "strided", "pseudo"}, std::string("rolling"),
           "rolling: disjoint windows as loglikelihood_rolling; strided: overlapping windows every "
           "`stride` tokens; pseudo: pseudo-perplexity of a masked LM (each token masked in turn, "
           "disjoint windows; needs a mask token)");
  s.optional("context", ParamType::integer(),
             "tokens a window reads (default: the model's context length)")
      .min(2);
  s.optional("stride", ParamType::integer(),
             "strided only: tokens each window scores (default: context / 2)")
      .min(1);
  s.choice("prefix", {"auto", "eos", "none"}, std::string("auto"),
           "what the first token of a document is conditioned on: EOS, or nothing (the first token "
           "is then not "
           "scored); auto = EOS when the tokenizer has one");
  s.optional("prefix_token", ParamType::integer(),
             "condition the first token on this token id instead")
      .min(0);
  s.optional("limit", ParamType::integer(), "score only the first N documents").min(1);
  r.add<eval::Evaluator>("evaluator", "perplexity", s, [](const Config& c) {
    PerplexityOptions o;
    o.name = c.get<std::string>("name");
    o.path = c.get<std::string>("path", std::string());
    const std::string method = c.get<std::string>("method");
    o.method = method == "strided"  ? PerplexityMethod::strided
               : method == "pseudo" ? PerplexityMethod::pseudo
                                    : PerplexityMethod::rolling;
    o.context = optional_int<int64_t>(c, "context");
    o.stride = optional_int<int64_t>(c, "stride");
    o.prefix = c.get<std::string>("prefix");
    o.prefix_token = optional_int<int32_t>(c, "prefix_token");
    o.limit = optional_int<int64_t>(c, "limit");
    if (o.name.empty()) c.at("name").fail("the name must not be empty");
    if (o.stride && o.method != PerplexityMethod::strided)
      c.at("stride").fail("stride applies to method = \"strided\" only");
    if (o.stride && o.context && *o.stride >= *o.context)
      c.at("stride").fail("stride (" + std::to_string(*o.stride) + ") must be less than context (" +
                          std::to_string(*o.context) + ")");
    if (o.prefix_token && o.method == PerplexityMethod::pseudo)
      c.at("prefix_token")
          .fail("pseudo-perplexity scores every token in its window: it has no prefix token");
    if (o.prefix_token && o.prefix == "none")
      c.at("prefix_token").fail("prefix_token conflicts with prefix = \"none\"");
    return std::make_shared<PerplexityEvaluator>(std::move(o));
  });
}

void register_components(Registry& r) {
  register_perplexity(r);
}

}  // namespace
}  // namespace kiln::evaluators

KILN_PLUGIN("kiln_evaluators", "0.1.0", kiln::evaluators::register_components)
