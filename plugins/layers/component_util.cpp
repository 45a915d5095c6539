#include "plugins/layers/component_util.h"

#include "plugins/layers/common.h"

namespace kiln::layers {

std::string from_parent(const std::string& what, const std::string& parent,
                        const std::string& otherwise) {
  return what + " (default: " + parent + "'s" + (otherwise.empty() ? "" : ", else " + otherwise) +
         ")";
}

Config settings(const Config& c, std::initializer_list<const char*> keys) {
  Config out = Config::table();
  for (const char* k : keys)
    if (const Config* v = c.find(k); v && !v->is_null()) out.set(k, *v).set_path(v->path());
  return out;
}

std::shared_ptr<Positions> make_positions(const Config& component) {
  auto p = std::dynamic_pointer_cast<Positions>(make_layer(component));
  if (!p)
    component.fail(
        "expected a position scheme (learned{}, sinusoidal{}, rope{}, alibi{}, t5_bias{} or "
        "nope{}), got " +
        component.type_name());
  return p;
}

BlockPattern block_pattern(const Config& c, const std::string& n_key, const std::string& block_key,
                           const std::string& blocks_key) {
  BlockPattern out;
  const Config& block = c.at(block_key);
  const Config* list = c.find(blocks_key);
  const bool listed = list && !list->is_null();
  if (listed) {
    if (list->size() == 0)
      list->fail(blocks_key + " is empty; give at least one block or leave it out");
    out.blocks = list->items();
  } else {
    out.blocks.push_back(block);
  }
  out.n_layers = int64_t(out.blocks.size());
  if (const Config* n = c.find(n_key); n && !n->is_null()) {
    out.n_layers = n->as_int();
    if (out.n_layers < 1) n->fail(n_key + " must be >= 1");
    if (out.n_layers % int64_t(out.blocks.size()) != 0)
      n->fail(n_key + " (" + std::to_string(out.n_layers) + ") is not a multiple of the " +
              std::to_string(out.blocks.size()) + " blocks given");
  } else if (!listed) {
    c.fail("set " + n_key + " (or give the list of " + blocks_key + ")");
  }
  return out;
}

}  // namespace kiln::layers
