// Specs: a Lua file (or the JSON a run wrote) that returns { model, data, train, eval, plugins,
// seed, out }. Loading runs it in the sandbox, applies --set overrides, loads the plugins it
// lists, and validates it against the schemas, reporting every problem at once.
#pragma once

#include <string>
#include <vector>

#include "core/registry/config.h"
#include "core/registry/schema.h"
#include "dsl/sandbox.h"

namespace kiln::dsl {

struct SpecOptions {
  /// "path=value" overrides (--set): value is a Lua expression (constructors allowed), or a
  /// plain string when it does not parse as one or the field is a string.
  std::vector<std::string> overrides;
  /// Memory and instruction limits of the sandbox the spec runs in.
  SandboxLimits limits;
};

/// Evaluates a .lua spec (or reads a .json resolved spec), applies overrides, loads its
/// plugins, validates it and fills defaults. Throws kiln::Error whose message lists every
/// problem, one "file:line: path: message" a line.
Config load_spec(const std::string& path, const SpecOptions& options = {});

/// Evaluates a spec without validating it (plugins are loaded).
Config evaluate_spec(const std::string& path, const SpecOptions& options = {});

/// Validates a spec tree in place (filling defaults); returns the problems.
std::vector<std::string> validate_spec(Config& spec);

/// The schema of a spec's top level.
const Schema& spec_schema();

/// Applies one "path=value" override to a spec tree.
void apply_override(Config& spec, const std::string& assignment);

}  // namespace kiln::dsl
