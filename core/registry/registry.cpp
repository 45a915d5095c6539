#include "core/registry/registry.h"

#include <algorithm>

#include "core/train/train_options.h"

namespace kiln {

Registry& Registry::global() {
  static Registry* r = new Registry;  // never destroyed: plugins' objects may outlive statics
  return *r;
}

Registry::Registry() {
  // The kinds DESIGN.md names; plugins may add more.
  add_kind("layer", "an nn::Module built from a config: attention, MLP, norm, embedding, ...");
  add_kind("model", "a whole network: decoder, encoder, encoder-decoder");
  add_kind("objective", "a training loss: causal LM, MLM, DPO, ...");
  add_kind("reward", "scores completions of prompts for RL objectives (ppo, grpo): rules, reward models");
  add_kind("evaluator", "turns a model into numbers: perplexity, MMLU, BBH, AGIEval");
  add_kind("probe", "reads a model's hook points: logit lens, linear probes, patching");
  add_kind("optimizer", "updates parameters from their gradients");
  add_kind("schedule", "the learning rate as a function of the step");
  add_kind("tokenizer", "text to token ids and back");
  add_kind("dataset", "a source of training or evaluation examples");
  // The sections of a spec that the core itself reads.
  train::register_train_section(*this);
}

void Registry::add_kind(const std::string& kind, const std::string& doc) {
  KILN_CHECK(!kind.empty() && kind.find('.') == std::string::npos, "registry: invalid kind name \"", kind, "\"");
  if (has_kind(kind)) return;
  kinds_.push_back({kind, doc});
}

bool Registry::has_kind(const std::string& kind) const {
  return std::any_of(kinds_.begin(), kinds_.end(), [&](const KindInfo& k) { return k.name == kind; });
}

std::vector<KindInfo> Registry::kinds() const { return kinds_; }

void Registry::set_current_plugin(const std::string& name, const std::string& version) {
  current_plugin_ = name;
  current_version_ = version;
}

void Registry::add_component(ComponentInfo c) {
  if (!has_kind(c.kind)) {
    std::vector<std::string> names;
    for (const auto& k : kinds_) names.push_back(k.name);
    std::string s = did_you_mean(c.kind, names);
    KILN_FAIL("plugin \"", current_plugin_, "\" registers ", c.kind, ".", c.name, " under an unknown kind \"", c.kind,
              "\"", s.empty() ? "" : " (did you mean \"" + s + "\"?)", "; add the kind first with add_kind()");
  }
  KILN_CHECK(!c.name.empty() && c.name.find('.') == std::string::npos, "plugin \"", current_plugin_,
             "\": invalid component name \"", c.name, "\"");
  c.plugin = current_plugin_;
  c.plugin_version = current_version_;
  std::string key = c.full_name();
  if (auto it = components_.find(key); it != components_.end())
    KILN_FAIL("component ", key, " is registered twice: by plugin \"", it->second.plugin, "\" (",
              it->second.plugin_version, ") and by plugin \"", c.plugin, "\" (", c.plugin_version, ")");
  components_.emplace(key, std::move(c));
}

void Registry::set_section_schema(const std::string& section, Schema schema) {
  sections_.insert_or_assign(section, std::move(schema));
}

const Schema* Registry::section_schema(const std::string& section) const {
  auto it = sections_.find(section);
  return it == sections_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::sections() const {
  std::vector<std::string> out;
  for (const auto& [name, schema] : sections_) out.push_back(name);
  return out;
}

const ComponentInfo* Registry::find(const std::string& kind, const std::string& name) const {
  auto it = components_.find(kind + "." + name);
  return it == components_.end() ? nullptr : &it->second;
}

std::vector<const ComponentInfo*> Registry::find_named(const std::string& name) const {
  std::vector<const ComponentInfo*> out;
  for (const auto& [k, c] : components_)
    if (c.name == name) out.push_back(&c);
  return out;
}

std::vector<const ComponentInfo*> Registry::all() const {
  std::vector<const ComponentInfo*> out;
  for (const auto& [k, c] : components_) out.push_back(&c);
  return out;
}

const ComponentInfo& Registry::resolve(const std::string& name) const {
  size_t dot = name.find('.');
  if (dot != std::string::npos) {
    if (const ComponentInfo* c = find(name.substr(0, dot), name.substr(dot + 1))) return *c;
  } else {
    auto named = find_named(name);
    if (named.size() == 1) return *named[0];
    if (named.size() > 1) {
      std::string opts;
      for (const auto* c : named) opts += (opts.empty() ? "" : ", ") + c->full_name();
      KILN_FAIL("component name \"", name, "\" is ambiguous; use one of ", opts);
    }
  }
  std::vector<std::string> names;
  for (const auto& [k, c] : components_) {
    names.push_back(k);
    names.push_back(c.name);
  }
  std::string s = did_you_mean(name, names);
  KILN_FAIL("no component named \"", name, "\"", s.empty() ? "" : " (did you mean \"" + s + "\"?)",
            "; `kiln plugins list` shows them all");
}

const ComponentInfo& Registry::info_for(const Config& component) const {
  if (!component.is_component()) component.fail("expected a component (a constructor call such as name{...})");
  const ComponentInfo* c = find(component.component_kind(), component.component_name());
  if (!c) component.fail("no component " + component.component_kind() + "." + component.component_name());
  return *c;
}

std::vector<std::string> Registry::validate(Config& component) const {
  std::vector<std::string> errors;
  std::function<void(Config&, std::vector<std::string>&)> nested = [&](Config& node, std::vector<std::string>& errs) {
    const ComponentInfo* c = find(node.component_kind(), node.component_name());
    if (!c) {
      errs.push_back(node.where() + "no component " + node.component_kind() + "." + node.component_name());
      return;
    }
    c->schema.validate(node, errs, nested);
  };
  if (!component.is_component()) errors.push_back(component.where() + "expected a component");
  else nested(component, errors);
  return errors;
}

std::shared_ptr<void> Registry::make(const ComponentInfo& c, const Config& component) const {
  Config cfg = component;
  std::vector<std::string> errors = validate(cfg);
  if (!errors.empty()) {
    std::string msg;
    for (const auto& e : errors) msg += (msg.empty() ? "" : "\n") + e;
    throw Error(msg);
  }
  std::shared_ptr<void> obj = c.factory(cfg);
  // A declared parameter the factory never read is a plugin bug: its schema and code disagree.
  std::vector<std::string> unread = cfg.unread_keys();
  if (!unread.empty())
    KILN_FAIL("component ", c.full_name(), " (plugin \"", c.plugin, "\") did not read its parameter \"", unread[0],
              "\": the schema declares it but the factory ignores it");
  return obj;
}

}  // namespace kiln
