#include "plugins/layers/common.h"

#include "core/nn/init.h"
#include "core/ops/linalg.h"
#include "core/registry/registry.h"
#include "core/tensor/factory.h"

namespace kiln::layers {

namespace {
thread_local const InitOptions* t_init = nullptr;
}

const InitOptions& current_init() {
  static const InitOptions defaults;
  return t_init ? *t_init : defaults;
}

InitScope::InitScope(const InitOptions& o) : saved_(t_init) {
  t_init = &o;
}
InitScope::~InitScope() {
  t_init = saved_;
}

Linear::Linear(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", zeros({out, in}));
  if (with_bias) bias = register_parameter("bias", zeros({out}));
}

Tensor Linear::forward(const Tensor& x) const {
  return ops::linear(x, weight, bias);
}

void Linear::init_normal(double std, Generator* gen) {
  nn::init::normal_(weight, 0.0, std, gen);
  if (bias.defined()) nn::init::zeros_(bias);
}

Config inherit(const Config& child, const Config& parent) {
  Config out = child;
  const ComponentInfo* info =
      Registry::global().find(child.component_kind(), child.component_name());
  if (!info) return out;  // an unknown component: creating it reports that
  for (const auto& [key, value] : parent.entries()) {
    if (value.is_null() || !info->schema.find(key)) continue;
    const Config* own = child.find(key);
    if (own && !own->is_null()) {
      if (key == "d_model" && own->as_int() != value.as_int())
        own->fail("d_model is the model's width, " + std::to_string(value.as_int()) +
                  "; a layer cannot change it (got " + std::to_string(own->as_int()) + ")");
      continue;
    }
    // Errors in the value name where the spec wrote it (model.activation), not where it landed.
    out.set(key, value).set_path(value.path());
  }
  return out;
}

std::shared_ptr<nn::Layer> make_layer(const Config& component) {
  if (!component.is_component() || component.component_kind() != "layer")
    component.fail("expected a layer component (a constructor call such as layer_norm{}), got " +
                   component.type_name());
  return Registry::global().create<nn::Layer>(component);
}

Config component_config(const std::string& kind, const std::string& name) {
  Config c = Config::table();
  c.set_component(kind, name);
  return c;
}

int64_t inherited_int(const Config& c, const std::string& key) {
  const Config* v = c.find(key);
  if (!v || v->is_null())
    c.fail("\"" + key +
           "\" is not set: give it here, or build this layer inside a model that sets it");
  return v->as_int();
}

}  // namespace kiln::layers
