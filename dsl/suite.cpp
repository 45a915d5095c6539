#include "dsl/suite.h"

#include "core/registry/registry.h"

namespace kiln::dsl {

namespace {

// Checks that every item of the list is a component of `kind` and validates it.
std::vector<Config> validate_list(Config suite, const std::string& kind,
                                  const std::string& example) {
  suite.set_path("");
  std::vector<std::string> errors;
  std::vector<Config> out;
  for (size_t i = 0; i < suite.size(); ++i) {
    Config item = suite[i];
    item.set_path("suite[" + std::to_string(i + 1) + "]");
    if (!item.is_component() || item.component_kind() != kind) {
      errors.push_back(item.where() + "expected " + std::string(kind[0] == 'e' ? "an " : "a ") + kind + " (" + example + ", ...), got " +
                       (item.is_component() ? item.component_kind() + " " + item.component_name()
                                            : std::string("a ") + item.type_name()));
      continue;
    }
    std::vector<std::string> e = Registry::global().validate(item);
    errors.insert(errors.end(), e.begin(), e.end());
    out.push_back(std::move(item));
  }
  if (!errors.empty()) {
    std::string msg;
    for (const std::string& e : errors) msg += (msg.empty() ? "" : "\n") + e;
    throw Error(msg);
  }
  return out;
}

}  // namespace

std::vector<Config> load_suite(const std::string& path, const SpecOptions& options) {
  Config suite = evaluate_spec(path, options);
  // A whole spec serves as a suite through its eval section.
  if (suite.is_table() && suite.has("eval")) suite = suite.at("eval");
  if (suite.is_table() && suite.keys().empty()) suite = Config::list();  // `return {}`
  if (!suite.is_list())
    KILN_FAIL(path,
              ": a suite returns a list of evaluators, as in return { perplexity {} }; got a ",
              suite.type_name());
  KILN_CHECK(suite.size() > 0, path, ": the suite lists no evaluators (return { perplexity {} })");
  return validate_list(std::move(suite), "evaluator", "perplexity {}");
}

std::vector<Config> load_probes(const std::string& path, const SpecOptions& options) {
  Config probes = evaluate_spec(path, options);
  if (probes.is_table() && probes.has("probes")) probes = probes.at("probes");
  if (probes.is_component()) probes = Config::list({probes});
  if (probes.is_table() && probes.keys().empty()) probes = Config::list();
  if (!probes.is_list())
    KILN_FAIL(
        path,
        ": a probe spec returns a probe or a list of probes, as in return { logit_lens { prompt = ",
        "\"...\" } }; got a ", probes.type_name());
  KILN_CHECK(probes.size() > 0, path, ": the probe spec lists no probes");
  return validate_list(std::move(probes), "probe", "logit_lens {}");
}

}  // namespace kiln::dsl
