// Schemas: each component's parameters with type, default, range and one line of docs. A
// schema drives validation of specs (with every error reported at once), `kiln plugins
// describe`, and the generated reference in docs/components.md.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/registry/config.h"

namespace kiln {

struct ParamType {
  enum class Kind { boolean, integer, number, string, choice, list, table, component, any };
  Kind kind = Kind::any;
  std::vector<std::string> choices;           ///< for choice
  std::shared_ptr<const ParamType> element;   ///< for list
  std::string component_kind;                 ///< for component ("" = any kind)

  static ParamType of(Kind k) {
    ParamType t;
    t.kind = k;
    return t;
  }
  static ParamType boolean() { return of(Kind::boolean); }
  static ParamType integer() { return of(Kind::integer); }
  static ParamType number() { return of(Kind::number); }
  static ParamType string() { return of(Kind::string); }
  static ParamType table() { return of(Kind::table); }
  static ParamType any() { return of(Kind::any); }
  static ParamType choice(std::vector<std::string> options);
  static ParamType list(ParamType element);
  static ParamType component(std::string kind);

  /// "integer", "list of number", "one of \"gelu\", \"swiglu\"", "layer component".
  std::string str() const;
};

struct Param {
  std::string name;
  ParamType type;
  std::optional<Config> default_value;  ///< filled in when the spec omits the key
  bool required = false;                ///< no default: the spec must give it
  std::optional<double> min_value, max_value;
  std::string doc;

  Param& min(double v) { min_value = v; return *this; }
  Param& max(double v) { max_value = v; return *this; }
  Param& range(double lo, double hi) { min_value = lo; max_value = hi; return *this; }
  /// "required", "optional" (no default, may be absent), or the default as JSON.
  std::string default_str() const;
  /// ">= 0", "in [0, 1]", or "".
  std::string range_str() const;
};

class Schema {
 public:
  explicit Schema(std::string doc = "") : doc_(std::move(doc)) {}

  /// One line describing the component (the first line of `describe`).
  const std::string& doc() const { return doc_; }
  const std::vector<Param>& params() const { return params_; }
  const Param* find(const std::string& name) const;

  // Declaring parameters; each returns the Param for .min()/.max()/.range().
  Param& boolean(const std::string& name, bool def, const std::string& doc);
  Param& integer(const std::string& name, std::optional<int64_t> def, const std::string& doc);
  Param& number(const std::string& name, std::optional<double> def, const std::string& doc);
  Param& string(const std::string& name, std::optional<std::string> def, const std::string& doc);
  Param& choice(const std::string& name, std::vector<std::string> options, std::optional<std::string> def,
                const std::string& doc);
  Param& list(const std::string& name, ParamType element, std::optional<Config> def, const std::string& doc);
  Param& table(const std::string& name, std::optional<Config> def, const std::string& doc);
  Param& component(const std::string& name, const std::string& kind, std::optional<Config> def, const std::string& doc);
  /// A parameter that may be absent and has no default (the factory checks has()).
  Param& optional(const std::string& name, ParamType type, const std::string& doc);
  Param& add(Param p);

  /// Callback that validates a nested component node (the registry supplies it).
  using NestedValidator = std::function<void(Config& node, std::vector<std::string>& errors)>;

  /// Checks a table against this schema: unknown keys (with did-you-mean), missing required
  /// keys, types (coercing integers to numbers, numbers to integers when whole), ranges and
  /// choices. Fills defaults. Appends one "file:line: path: message" line per problem.
  void validate(Config& table, std::vector<std::string>& errors, const NestedValidator& nested) const;

 private:
  std::string doc_;
  std::vector<Param> params_;
};

/// Checks (and coerces in place) one value against a type; appends errors.
void validate_value(Config& value, const ParamType& type, const Param* param, std::vector<std::string>& errors,
                    const Schema::NestedValidator& nested);

}  // namespace kiln
