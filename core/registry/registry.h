// The registry: component kinds, and the components registered under them by plugins, each a
// name, a schema and a factory. The core knows no concrete component; plugins register theirs
// explicitly from their entry point (core/registry/plugin.h).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <typeindex>
#include <vector>

#include "core/registry/config.h"
#include "core/registry/schema.h"

namespace kiln {

struct ComponentInfo {
  std::string kind;
  std::string name;
  std::string plugin;          ///< the plugin that registered it
  std::string plugin_version;
  Schema schema;
  std::function<std::shared_ptr<void>(const Config&)> factory;
  std::type_index type = typeid(void);  ///< the interface the factory returns
  std::string type_name;

  std::string full_name() const { return kind + "." + name; }
};

struct KindInfo {
  std::string name;
  std::string doc;
};

class Registry {
 public:
  /// The process-wide registry (lives in libkiln_core, shared by every plugin).
  static Registry& global();

  /// Declares a component kind (the set is open: a plugin may add one).
  void add_kind(const std::string& kind, const std::string& doc);
  bool has_kind(const std::string& kind) const;
  std::vector<KindInfo> kinds() const;

  /// Registers a component whose factory returns T (the kind's interface). Throws when the
  /// kind is unknown or kind.name is already registered (naming both plugins).
  template <class T>
  void add(const std::string& kind, const std::string& name, Schema schema,
           std::function<std::shared_ptr<T>(const Config&)> factory) {
    ComponentInfo c;
    c.kind = kind;
    c.name = name;
    c.schema = std::move(schema);
    c.factory = [f = std::move(factory)](const Config& cfg) { return std::static_pointer_cast<void>(f(cfg)); };
    c.type = typeid(T);
    c.type_name = typeid(T).name();
    add_component(std::move(c));
  }

  const ComponentInfo* find(const std::string& kind, const std::string& name) const;
  /// Components of any kind with this name.
  std::vector<const ComponentInfo*> find_named(const std::string& name) const;
  /// Every component, sorted by kind then name.
  std::vector<const ComponentInfo*> all() const;
  /// Looks a component up by "kind.name" or a bare name that is unique; throws with
  /// suggestions otherwise.
  const ComponentInfo& resolve(const std::string& name) const;

  /// Validates a component node (and every component inside it) against the schemas, filling
  /// defaults. Returns all problems, one "file:line: path: message" per line.
  std::vector<std::string> validate(Config& component) const;
  /// Validates, then builds the component; T must be the interface its kind produces.
  template <class T>
  std::shared_ptr<T> create(const Config& component) const {
    const ComponentInfo& c = info_for(component);
    if (c.type != typeid(T))
      component.fail("component " + c.full_name() + " makes a " + c.type_name + ", not the requested " +
                     typeid(T).name());
    return std::static_pointer_cast<T>(make(c, component));
  }

  /// The schema of a section of the spec that is not a component (the trainer declares
  /// "train"); spec validation checks the section against it when one is set.
  void set_section_schema(const std::string& section, Schema schema);
  const Schema* section_schema(const std::string& section) const;
  /// The sections that have a schema, sorted.
  std::vector<std::string> sections() const;

  /// The plugin on whose behalf components are being registered (set by the loader).
  void set_current_plugin(const std::string& name, const std::string& version);

 private:
  Registry();
  void add_component(ComponentInfo c);
  const ComponentInfo& info_for(const Config& component) const;
  std::shared_ptr<void> make(const ComponentInfo& c, const Config& component) const;

  std::vector<KindInfo> kinds_;
  std::map<std::string, ComponentInfo> components_;  // by "kind.name"
  std::map<std::string, Schema> sections_;
  std::string current_plugin_ = "kiln", current_version_;
};

}  // namespace kiln
