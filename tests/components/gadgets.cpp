#include "tests/components/gadgets.h"

namespace kiln {

void ensure_gadgets() {
  Registry& r = Registry::global();
  if (r.find("gadget", "box")) return;
  r.add_kind("gadget", "test components");
  Schema s("a box");
  s.integer("size", std::nullopt, "edge length").min(1);
  s.number("ratio", 0.5, "fill ratio").range(0, 1);
  s.choice("mode", {"open", "closed"}, "open", "lid state");
  s.list("dims", ParamType::integer(), Config::list(), "extra dims");
  s.optional("inner", ParamType::component("gadget"), "a nested gadget");
  r.add<Gadget>("gadget", "box", s, [](const Config& c) {
    auto g = std::make_shared<Gadget>();
    g->size = c.get<int64_t>("size");
    g->ratio = c.get<double>("ratio");
    g->mode = c.get<std::string>("mode");
    c.at("dims");
    c.find("inner");
    return g;
  });
  Schema lazy("forgets a parameter");
  lazy.integer("used", 1, "read by the factory");
  lazy.integer("ignored", 2, "never read by the factory");
  r.add<Gadget>("gadget", "lazy", lazy, [](const Config& c) {
    auto g = std::make_shared<Gadget>();
    g->size = c.get<int64_t>("used");
    return g;
  });
}

}  // namespace kiln
