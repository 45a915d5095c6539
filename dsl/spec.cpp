#include "dsl/spec.h"

#include <lua.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/registry/plugin.h"
#include "core/registry/registry.h"
#include "dsl/lua_config.h"
#include "dsl/prelude.h"
#include "dsl/sandbox.h"

namespace kiln::dsl {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in, path, ": cannot read the spec (no such file, or not readable)");
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

bool is_json(const std::string& path) { return fs::path(path).extension() == ".json"; }

std::string canonical(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(path, ec);
  return ec ? path : p.string();
}

// First pass: run the spec with stand-ins for unknown names, only to read its `plugins` list
// (the plugins' constructors must exist before the real run). Any failure means no list.
std::vector<std::string> find_plugins(const std::string& path, const std::string& code, const SandboxLimits& limits) {
  std::vector<std::string> out;
  try {
    Sandbox sb(limits);
    install_prelude(sb.L(), /*lenient=*/true);
    sb.run(code, path, 1);
    lua_State* L = sb.L();
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "plugins");
      if (lua_istable(L, -1)) {
        for (lua_Integer i = 1;; ++i) {
          lua_rawgeti(L, -1, i);
          if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            break;
          }
          out.push_back(lua_tostring(L, -1));
          lua_pop(L, 1);
        }
      }
    }
  } catch (const Error&) {
    // The real run reports the error.
  }
  return out;
}

void load_listed_plugins(const std::vector<std::string>& plugins, const std::string& spec_path) {
  for (const std::string& p : plugins) {
    fs::path pp(p);
    // Relative plugin paths are tried beside the spec, then from the working directory.
    fs::path beside = fs::path(spec_path).parent_path() / pp;
    std::error_code ec;
    load_plugin(pp.is_absolute() || !fs::exists(beside, ec) ? p : beside.string());
  }
}

struct PathStep {
  std::string key;   // table key, or
  int64_t index = 0; // 1-based list position
};

std::vector<PathStep> parse_path(const std::string& path, const std::string& assignment) {
  std::vector<PathStep> steps;
  size_t i = 0;
  auto bad = [&] { KILN_FAIL("--set ", assignment, ": cannot parse the path \"", path, "\" (expected a.b[2].c)"); };
  while (i < path.size()) {
    if (path[i] == '[') {
      size_t j = path.find(']', i);
      if (j == std::string::npos) bad();
      try {
        steps.push_back({"", std::stoll(path.substr(i + 1, j - i - 1))});
      } catch (...) {
        bad();
      }
      if (steps.back().index < 1) bad();
      i = j + 1;
      if (i < path.size() && path[i] == '.') ++i;
      continue;
    }
    size_t j = path.find_first_of(".[", i);
    if (j == std::string::npos) j = path.size();
    if (j == i) bad();
    steps.push_back({path.substr(i, j - i)});
    i = j;
    if (i < path.size() && path[i] == '.') ++i;
  }
  if (steps.empty()) bad();
  return steps;
}

// The declared type of the field at the end of a path, when a schema names it.
const ParamType* type_at(const Config& spec, const std::vector<PathStep>& steps) {
  const Config* node = &spec;
  const Schema* schema = &spec_schema();
  const ParamType* type = nullptr;
  for (const PathStep& s : steps) {
    type = nullptr;
    if (!s.key.empty()) {
      if (schema)
        if (const Param* p = schema->find(s.key)) type = &p->type;
      const Config* next = nullptr;
      if (node && node->is_table())
        for (const auto& [k, v] : node->entries())
          if (k == s.key) next = &v;
      node = next;
    } else {
      node = node && node->is_list() && size_t(s.index) <= node->size() ? &node->items()[size_t(s.index - 1)] : nullptr;
    }
    schema = nullptr;
    if (node && node->is_component())
      if (const ComponentInfo* c = Registry::global().find(node->component_kind(), node->component_name()))
        schema = &c->schema;
  }
  return type;
}

Config evaluate_override(const std::string& value_text) {
  // A Lua expression (numbers, booleans, tables, constructor calls); otherwise a string.
  try {
    Sandbox sb;
    install_prelude(sb.L(), /*lenient=*/false);
    sb.run("return " + value_text, "--set", 1);
    SourceIndex index;
    Config c = lua_to_config(sb.L(), -1, SourceLoc{"--set", 0, ""}, index);
    if (!c.is_null()) return c;
  } catch (const Error&) {
  }
  return Config(value_text);
}

}  // namespace

const Schema& spec_schema() {
  static const Schema s = [] {
    Schema sc("A kiln spec: what to build, how to train it and how to evaluate it.");
    sc.optional("model", ParamType::component("model"), "the network to build");
    sc.optional("data", ParamType::any(), "where training and validation examples come from");
    sc.optional("train", ParamType::table(), "the training loop: objective, optimizer, schedule, steps, ...");
    sc.list("eval", ParamType::component("evaluator"), Config::list(), "evaluators run after training");
    sc.list("plugins", ParamType::string(), Config::list(), "plugin libraries to load (paths)");
    sc.integer("seed", 0, "the seed of every random number in the run").min(0);
    sc.optional("out", ParamType::string(), "the run directory (kiln train --out overrides it)");
    return sc;
  }();
  return s;
}

void apply_override(Config& spec, const std::string& assignment) {
  size_t eq = assignment.find('=');
  KILN_CHECK(eq != std::string::npos && eq > 0, "--set ", assignment, ": expected path=value, as in train.steps=500");
  std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  std::vector<PathStep> steps = parse_path(path, assignment);
  Config value;
  const ParamType* type = type_at(spec, steps);
  if (type && (type->kind == ParamType::Kind::string || type->kind == ParamType::Kind::choice)) value = Config(text);
  else value = evaluate_override(text);
  value.set_loc({"--set " + path, 0, ""});

  Config* node = &spec;
  for (size_t i = 0; i + 1 < steps.size(); ++i) {
    const PathStep& s = steps[i];
    if (!s.key.empty()) {
      if (!node->is_table() && !node->is_null())
        KILN_FAIL("--set ", assignment, ": ", s.key, " is inside a ", node->type_name(), ", not a table");
      if (!node->has(s.key)) node->set(s.key, Config::table());
      node = &node->at(s.key);
    } else {
      KILN_CHECK(node->is_list() && size_t(s.index) <= node->size(), "--set ", assignment, ": position ", s.index,
                 " does not exist");
      node = &(*node)[size_t(s.index - 1)];
    }
  }
  const PathStep& last = steps.back();
  if (!last.key.empty()) {
    KILN_CHECK(node->is_table() || node->is_null(), "--set ", assignment, ": the parent is a ", node->type_name(),
               ", not a table");
    node->set(last.key, value);
  } else {
    KILN_CHECK(node->is_list() && size_t(last.index) <= node->size() + 1, "--set ", assignment, ": position ",
               last.index, " is past the end of the list");
    if (size_t(last.index) == node->size() + 1) node->push_back(value);
    else (*node)[size_t(last.index - 1)] = value;
  }
  spec.set_path("");
}

Config evaluate_spec(const std::string& path_in, const SpecOptions& options) {
  std::string path = canonical(path_in);
  std::string code = read_file(path_in);
  load_default_plugins();
  Config spec;
  if (is_json(path)) {
    spec = Config::from_json(code, path);
    if (const Config* p = spec.is_table() ? spec.find("plugins") : nullptr; p && p->is_list()) {
      std::vector<std::string> list;
      for (const Config& item : p->items())
        if (item.type() == Config::Type::string) list.push_back(item.as_string());
      load_listed_plugins(list, path);
    }
  } else {
    load_listed_plugins(find_plugins(path, code, options.limits), path);
    Sandbox sb(options.limits);
    install_prelude(sb.L(), /*lenient=*/false);
    sb.run(code, path, 1);
    sb.lift_limits();
    SourceIndex index;
    KILN_CHECK(lua_istable(sb.L(), -1), path, ": a spec must return a table ({ model = ..., train = ... }), got ",
               luaL_typename(sb.L(), -1));
    spec = lua_to_config(sb.L(), -1, SourceLoc{path, 1, ""}, index);
  }
  for (const std::string& o : options.overrides) apply_override(spec, o);
  return spec;
}

std::vector<std::string> validate_spec(Config& spec) {
  std::vector<std::string> errors;
  Registry& reg = Registry::global();
  std::function<void(Config&, std::vector<std::string>&)> nested = [&](Config& node, std::vector<std::string>& errs) {
    std::vector<std::string> e = reg.validate(node);
    errs.insert(errs.end(), e.begin(), e.end());
  };
  spec_schema().validate(spec, errors, nested);
  // Components inside sections without a schema of their own (data, train) are still checked.
  std::function<void(Config&)> walk = [&](Config& node) {
    if (node.is_component()) return nested(node, errors);
    if (node.is_table())
      for (const std::string& k : node.keys()) walk(node.at(k));
    else if (node.is_list())
      for (size_t i = 0; i < node.size(); ++i) walk(node[i]);
  };
  for (const char* section : {"data", "train"}) {
    if (!spec.has(section)) continue;
    Config& node = spec.at(section);
    const Schema* schema = reg.section_schema(section);
    if (schema && !node.is_component()) schema->validate(node, errors, nested);
    else walk(node);
  }
  spec.mark_all_read();
  return errors;
}

Config load_spec(const std::string& path, const SpecOptions& options) {
  Config spec = evaluate_spec(path, options);
  std::vector<std::string> errors = validate_spec(spec);
  if (!errors.empty()) {
    std::string msg;
    for (const std::string& e : errors) msg += (msg.empty() ? "" : "\n") + e;
    throw Error(msg);
  }
  return spec;
}

}  // namespace kiln::dsl
