// Registers widget.greeter again, under another plugin name.
#include "core/registry/plugin.h"
#include "tests/plugins/widget.h"

namespace {

void register_components(kiln::Registry& r) {
  r.add_kind("widget", "test components");
  r.add<kiln::testing::Widget>("widget", "greeter", kiln::Schema("again"),
                               [](const kiln::Config&) -> std::shared_ptr<kiln::testing::Widget> { return nullptr; });
}

}  // namespace

KILN_PLUGIN("test_duplicate", "0.0.1", register_components)
