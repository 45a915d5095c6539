// Evaluation suites: a Lua file that returns a list of evaluator components,
//   return { perplexity {}, perplexity { path = "data/wiki.test.txt", name = "wikitext" } }
// (or a spec whose `eval` section is that list). Run in the spec sandbox; plugins listed in a
// `plugins` field are loaded first.
#pragma once

#include <string>
#include <vector>

#include "core/registry/config.h"
#include "dsl/spec.h"

namespace kiln::dsl {

/// The suite's evaluator components, validated with defaults filled. Throws kiln::Error listing
/// every problem, each at its file:line.
std::vector<Config> load_suite(const std::string& path, const SpecOptions& options = {});

/// Probe specs (probes/*.lua): a Lua file that returns a probe component or a list of them,
///   return { logit_lens { prompt = "ROMEO:" }, attention_patterns { prompt = "ROMEO:" } }
/// (or a table whose `probes` field is that list), validated with defaults filled.
std::vector<Config> load_probes(const std::string& path, const SpecOptions& options = {});

}  // namespace kiln::dsl
