// The evaluators plugin: registers the evaluators of this folder.
#include "core/registry/plugin.h"
#include "plugins/evaluators/mmlu.h"
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

void register_mmlu(Registry& r) {
  Schema s(
      "MMLU (Hendrycks et al.): k-shot multiple choice scored by the log-likelihood of \" A\" .. "
      "\" D\"; accuracy per subject, per category, weighted and over subjects");
  s.string("name", std::string("mmlu"), "the name in the results table and results.json");
  s.string("path", std::string("../shared/data/mmlu"),
           "the folder holding MMLU's original dev/, val/ and test/ CSV folders");
  s.choice("split", {"test", "val", "dev"}, std::string("test"), "the questions scored");
  s.integer("shots", int64_t(5), "few-shot examples: the first `shots` questions of the dev file")
      .range(0, 5);
  s.list("subjects", ParamType::string(), Config::list(),
         "score only these subjects (file stems, e.g. \"abstract_algebra\"); empty = all");
  s.optional("limit", ParamType::integer(), "score only the first N questions of each subject")
      .min(1);
  s.optional("context", ParamType::integer(),
             "tokens the model reads (default: the model's context length)")
      .min(2);
  s.choice("template", {"original", "harness"}, std::string("original"),
           "original: hendrycks/test's prompt, fields verbatim; harness: lm-evaluation-harness's "
           "(the question stripped of surrounding whitespace)");
  s.choice("bos", {"none", "bos"}, std::string("none"),
           "none: no BOS (lm-evaluation-harness's default); bos: start every prompt with the "
           "tokenizer's BOS (else its EOS)");
  r.add<eval::Evaluator>("evaluator", "mmlu", s, [](const Config& c) {
    MmluOptions o;
    o.name = c.get<std::string>("name");
    o.path = c.get<std::string>("path");
    o.split = c.get<std::string>("split");
    o.shots = c.get<int64_t>("shots");
    for (const Config& item : c.at("subjects").items()) o.subjects.push_back(item.as_string());
    o.limit = optional_int<int64_t>(c, "limit");
    o.context = optional_int<int64_t>(c, "context");
    o.prompt = c.get<std::string>("template") == "harness" ? MmluTemplate::harness
                                                           : MmluTemplate::original;
    o.bos = c.get<std::string>("bos");
    if (o.name.empty()) c.at("name").fail("the name must not be empty");
    if (o.path.empty()) c.at("path").fail("the path must not be empty");
    return std::make_shared<MmluEvaluator>(std::move(o));
  });
}

void register_components(Registry& r) {
  register_perplexity(r);
  register_mmlu(r);
}

}  // namespace
}  // namespace kiln::evaluators

KILN_PLUGIN("kiln_evaluators", "0.1.0", kiln::evaluators::register_components)
