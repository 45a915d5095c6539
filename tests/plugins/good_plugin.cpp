// A well-formed plugin: registers a "widget" kind and one widget.
#include "core/registry/plugin.h"
#include "tests/plugins/widget.h"

namespace {

struct Greeter : kiln::testing::Widget {
  std::string greeting;
  std::string hello() const override { return greeting; }
};

void register_components(kiln::Registry& r) {
  r.add_kind("widget", "test components");
  kiln::Schema s("says hello");
  s.string("greeting", "hello", "what to say");
  r.add<kiln::testing::Widget>("widget", "greeter", s, [](const kiln::Config& c) {
    auto g = std::make_shared<Greeter>();
    g->greeting = c.get<std::string>("greeting");
    return g;
  });
}

}  // namespace

KILN_PLUGIN("test_good", "1.2.3", register_components)
