// Config: the tree a component's factory reads. Each node remembers where it came from (a
// spec's file and line, or a JSON pointer) and its path in the tree, so that every error can
// say "spec.lua:14: model.blocks[3].n_heads: expected integer >= 1, got "8x"".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/base/error.h"

namespace kiln {

/// Where a value was written: file and line for Lua, file and JSON pointer for JSON.
struct SourceLoc {
  std::string file;
  int line = 0;
  std::string pointer;  ///< "/model/n_layers" for JSON sources
  bool known() const { return !file.empty(); }
  /// "spec.lua:14", "run.json#/model/n_layers", or "" when unknown.
  std::string str() const;
};

class Config {
 public:
  enum class Type { null, boolean, integer, number, string, list, table };

  Config() = default;
  Config(bool v) : value_(v) {}
  Config(int v) : value_(int64_t(v)) {}
  Config(int64_t v) : value_(v) {}
  Config(double v) : value_(v) {}
  Config(const char* v) : value_(std::string(v)) {}
  Config(std::string v) : value_(std::move(v)) {}
  static Config list(std::vector<Config> items = {});
  static Config table();

  Type type() const { return Type(value_.index()); }
  bool is_null() const { return type() == Type::null; }
  bool is_table() const { return type() == Type::table; }
  bool is_list() const { return type() == Type::list; }
  bool is_number() const { return type() == Type::integer || type() == Type::number; }
  /// "null", "bool", "integer", "number", "string", "list", "table" (or the component's name).
  std::string type_name() const;

  // ---- where it came from ---------------------------------------------------------------------
  const SourceLoc& loc() const { return loc_; }
  void set_loc(SourceLoc loc) { loc_ = std::move(loc); }
  /// The path from the root: "model.blocks[3].attn" ("" for the root).
  const std::string& path() const { return path_; }
  /// Sets this node's path and, recursively, its children's.
  void set_path(const std::string& path);
  /// "file:line: path: " prefix for messages about this node.
  std::string where() const;
  [[noreturn]] void fail(const std::string& message) const;

  // ---- components ------------------------------------------------------------------------------
  /// A table made by a component constructor (`attention{...}`) carries kind and name.
  bool is_component() const { return !component_name_.empty(); }
  const std::string& component_kind() const { return component_kind_; }
  const std::string& component_name() const { return component_name_; }
  void set_component(std::string kind, std::string name);

  // ---- scalars (throw with where() on a type mismatch) -----------------------------------------
  bool as_bool() const;
  int64_t as_int() const;
  /// Integers are accepted as numbers.
  double as_number() const;
  const std::string& as_string() const;

  // ---- lists -----------------------------------------------------------------------------------
  size_t size() const;
  const Config& operator[](size_t i) const;
  Config& operator[](size_t i);
  void push_back(Config item);
  const std::vector<Config>& items() const;

  // ---- tables (keys keep insertion order) ------------------------------------------------------
  bool has(const std::string& key) const;
  /// The child; throws "missing required key" naming the path when absent. Marks it read.
  const Config& at(const std::string& key) const;
  Config& at(const std::string& key);
  /// Null config when absent. Marks it read.
  const Config* find(const std::string& key) const;
  /// Inserts or replaces.
  Config& set(const std::string& key, Config value);
  void erase(const std::string& key);
  std::vector<std::string> keys() const;
  const std::vector<std::pair<std::string, Config>>& entries() const;

  // Typed lookups that mark the key read: get<T>(key) requires it, get<T>(key, fallback) not.
  template <class T>
  T get(const std::string& key) const;
  template <class T>
  T get(const std::string& key, const T& fallback) const;

  // ---- unknown keys ----------------------------------------------------------------------------
  /// Keys of this table that no getter has read (factories call check_all_read at the end).
  std::vector<std::string> unread_keys() const;
  /// Throws "unknown key" for each unread key (with a did-you-mean suggestion).
  void check_all_read() const;
  void mark_all_read() const;

  // ---- JSON ------------------------------------------------------------------------------------
  /// Components are written as tables with "@component": "kind.name".
  std::string to_json(bool pretty = true) const;
  /// Parses JSON; every node's loc is (origin, JSON pointer). Throws with origin on bad JSON.
  static Config from_json(const std::string& text, const std::string& origin);

  /// Structural equality: types, values, keys in order, component tags (locations ignored).
  bool operator==(const Config& other) const;

 private:
  using List = std::vector<Config>;
  using Table = std::vector<std::pair<std::string, Config>>;
  std::variant<std::monostate, bool, int64_t, double, std::string, List, Table> value_;
  SourceLoc loc_;
  std::string path_;
  std::string component_kind_, component_name_;
  mutable std::shared_ptr<std::set<std::string>> read_;  // keys read (tables only)

  void mark_read(const std::string& key) const;
};

/// The closest candidate by edit distance, when close enough to be a likely typo ("" if none).
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

template <class T>
T Config::get(const std::string& key) const {
  const Config& c = at(key);
  if constexpr (std::is_same_v<T, bool>) return c.as_bool();
  else if constexpr (std::is_integral_v<T>) return T(c.as_int());
  else if constexpr (std::is_floating_point_v<T>) return T(c.as_number());
  else if constexpr (std::is_same_v<T, std::string>) return c.as_string();
  else if constexpr (std::is_same_v<T, Config>) return c;
  else static_assert(sizeof(T) == 0, "Config::get: unsupported type");
}

template <class T>
T Config::get(const std::string& key, const T& fallback) const {
  const Config* c = find(key);
  if (!c || c->is_null()) return fallback;
  return get<T>(key);
}

}  // namespace kiln
