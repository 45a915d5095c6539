#include "core/registry/schema.h"

#include <cmath>
#include <sstream>

namespace kiln {

ParamType ParamType::choice(std::vector<std::string> options) {
  ParamType t = of(Kind::choice);
  t.choices = std::move(options);
  return t;
}

ParamType ParamType::list(ParamType element) {
  ParamType t = of(Kind::list);
  t.element = std::make_shared<const ParamType>(std::move(element));
  return t;
}

ParamType ParamType::component(std::string kind) {
  ParamType t = of(Kind::component);
  t.component_kind = std::move(kind);
  return t;
}

std::string ParamType::str() const {
  switch (kind) {
    case Kind::boolean: return "bool";
    case Kind::integer: return "integer";
    case Kind::number: return "number";
    case Kind::string: return "string";
    case Kind::table: return "table";
    case Kind::any: return "any";
    case Kind::list: return "list of " + (element ? element->str() : std::string("any"));
    case Kind::component: return component_kind.empty() ? "component" : component_kind + " component";
    case Kind::choice: {
      std::string s = "one of ";
      for (size_t i = 0; i < choices.size(); ++i) s += (i ? ", \"" : "\"") + choices[i] + "\"";
      return s;
    }
  }
  return "?";
}

std::string Param::default_str() const {
  if (default_value) return default_value->to_json(false);
  return required ? "required" : "optional";
}

namespace {
std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

std::string Param::range_str() const {
  if (min_value && max_value) return "in [" + num(*min_value) + ", " + num(*max_value) + "]";
  if (min_value) return ">= " + num(*min_value);
  if (max_value) return "<= " + num(*max_value);
  return "";
}

const Param* Schema::find(const std::string& name) const {
  for (const Param& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

Param& Schema::add(Param p) {
  KILN_CHECK(!find(p.name), "schema: parameter \"", p.name, "\" declared twice");
  params_.push_back(std::move(p));
  return params_.back();
}

namespace {
template <class T>
std::optional<Config> opt_config(const std::optional<T>& v) {
  if (!v) return std::nullopt;
  return Config(*v);
}
}  // namespace

Param& Schema::boolean(const std::string& name, bool def, const std::string& doc) {
  return add({name, ParamType::boolean(), Config(def), false, {}, {}, doc});
}
Param& Schema::integer(const std::string& name, std::optional<int64_t> def, const std::string& doc) {
  return add({name, ParamType::integer(), opt_config(def), !def, {}, {}, doc});
}
Param& Schema::number(const std::string& name, std::optional<double> def, const std::string& doc) {
  return add({name, ParamType::number(), opt_config(def), !def, {}, {}, doc});
}
Param& Schema::string(const std::string& name, std::optional<std::string> def, const std::string& doc) {
  return add({name, ParamType::string(), opt_config(def), !def, {}, {}, doc});
}
Param& Schema::choice(const std::string& name, std::vector<std::string> options, std::optional<std::string> def,
                      const std::string& doc) {
  return add({name, ParamType::choice(std::move(options)), opt_config(def), !def, {}, {}, doc});
}
Param& Schema::list(const std::string& name, ParamType element, std::optional<Config> def, const std::string& doc) {
  return add({name, ParamType::list(std::move(element)), std::move(def), false, {}, {}, doc});
}
Param& Schema::table(const std::string& name, std::optional<Config> def, const std::string& doc) {
  return add({name, ParamType::table(), std::move(def), false, {}, {}, doc});
}
Param& Schema::component(const std::string& name, const std::string& kind, std::optional<Config> def,
                         const std::string& doc) {
  bool required = !def;
  return add({name, ParamType::component(kind), std::move(def), required, {}, {}, doc});
}
Param& Schema::optional(const std::string& name, ParamType type, const std::string& doc) {
  return add({name, std::move(type), std::nullopt, false, {}, {}, doc});
}

namespace {

std::string describe(const Config& v) {
  switch (v.type()) {
    case Config::Type::string: return "\"" + v.as_string() + "\"";
    case Config::Type::integer: return std::to_string(v.as_int());
    case Config::Type::number: return num(v.as_number());
    case Config::Type::boolean: return v.as_bool() ? "true" : "false";
    default: return v.type_name();
  }
}

void error(std::vector<std::string>& errors, const Config& at, const std::string& msg) {
  errors.push_back(at.where() + msg);
}

}  // namespace

void validate_value(Config& value, const ParamType& type, const Param* param, std::vector<std::string>& errors,
                    const Schema::NestedValidator& nested) {
  using K = ParamType::Kind;
  auto expected = [&](const std::string& what) {
    std::string range = param ? param->range_str() : "";
    error(errors, value, "expected " + what + (range.empty() ? "" : " " + range) + ", got " + describe(value));
  };
  switch (type.kind) {
    case K::any: return;
    case K::boolean:
      if (value.type() != Config::Type::boolean) expected("bool");
      return;
    case K::string:
      if (value.type() != Config::Type::string) expected("string");
      return;
    case K::choice: {
      if (value.type() != Config::Type::string) return expected(type.str());
      for (const auto& c : type.choices)
        if (c == value.as_string()) return;
      std::string msg = "expected " + type.str() + ", got " + describe(value);
      std::string s = did_you_mean(value.as_string(), type.choices);
      if (!s.empty()) msg += " (did you mean \"" + s + "\"?)";
      return error(errors, value, msg);
    }
    case K::integer:
    case K::number: {
      if (!value.is_number()) return expected(type.kind == K::integer ? "integer" : "number");
      double v = value.as_number();
      if (type.kind == K::integer) {
        if (value.type() == Config::Type::number) {
          if (std::floor(v) != v || !std::isfinite(v)) return expected("integer");
          SourceLoc loc = value.loc();
          std::string path = value.path();
          value = Config(int64_t(v));  // a whole float where an integer is expected
          value.set_loc(loc);
          value.set_path(path);
        }
      } else if (value.type() == Config::Type::integer) {
        SourceLoc loc = value.loc();
        std::string path = value.path();
        value = Config(v);
        value.set_loc(loc);
        value.set_path(path);
      }
      if (param && ((param->min_value && v < *param->min_value) || (param->max_value && v > *param->max_value)))
        expected(type.kind == K::integer ? "integer" : "number");
      return;
    }
    case K::list: {
      if (!value.is_list() && !(value.is_table() && value.size() == 0 && !value.is_component()))
        return expected(type.str());
      if (value.is_table()) {
        SourceLoc loc = value.loc();
        std::string path = value.path();
        value = Config::list();
        value.set_loc(loc);
        value.set_path(path);
      }
      for (size_t i = 0; i < value.size(); ++i)
        if (type.element) validate_value(value[i], *type.element, nullptr, errors, nested);
      return;
    }
    case K::table:
      if (!value.is_table() && !(value.is_list() && value.size() == 0)) expected("table");
      return;
    case K::component:
      if (!value.is_component()) {
        return error(errors, value,
                     "expected " + type.str() + " (a constructor call such as name{...}), got " + describe(value));
      }
      if (!type.component_kind.empty() && value.component_kind() != type.component_kind)
        return error(errors, value,
                     "expected " + type.str() + ", got " + value.component_kind() + " component \"" +
                         value.component_name() + "\"");
      nested(value, errors);
      return;
  }
}

void Schema::validate(Config& table, std::vector<std::string>& errors, const NestedValidator& nested) const {
  if (!table.is_table() && !(table.is_list() && table.size() == 0) && !table.is_null()) {
    errors.push_back(table.where() + "expected a table, got " + table.type_name());
    return;
  }
  std::vector<std::string> names;
  for (const Param& p : params_) names.push_back(p.name);
  for (const std::string& key : table.keys()) {
    if (find(key)) continue;
    const Config& v = table.at(key);
    std::string msg = "unknown key \"" + key + "\"";
    std::string s = did_you_mean(key, names);
    if (!s.empty()) msg += " (did you mean \"" + s + "\"?)";
    errors.push_back(v.where() + msg);
  }
  for (const Param& p : params_) {
    if (!table.has(p.name)) {
      if (p.default_value) {
        Config& d = table.set(p.name, *p.default_value);
        d.set_loc(table.loc());
        if (p.type.kind == ParamType::Kind::component && !d.is_null()) nested(d, errors);
      } else if (p.required) {
        errors.push_back(table.where() + "missing required key \"" + p.name + "\" (" + p.type.str() + ": " + p.doc +
                         ")");
      }
      continue;
    }
    Config& v = table.at(p.name);
    if (v.is_null() && !p.required) continue;
    validate_value(v, p.type, &p, errors, nested);
  }
}

}  // namespace kiln
