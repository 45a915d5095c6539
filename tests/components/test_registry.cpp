// Registry, schemas, validation and the plugin loader.
#include <gtest/gtest.h>

#include "core/registry/plugin.h"
#include "core/registry/registry.h"
#include "tests/components/gadgets.h"
#include "tests/plugins/widget.h"

namespace kiln {
namespace {

Config box(Config params) {
  params.set_component("gadget", "box");
  params.set_loc({"spec.lua", 7, ""});
  params.set_path("model");
  return params;
}

TEST(Registry, CreatesFromValidatedConfigWithDefaults) {
  ensure_gadgets();
  Config c = Config::table();
  c.set("size", 3);
  auto g = Registry::global().create<Gadget>(box(c));
  EXPECT_EQ(g->size, 3);
  EXPECT_DOUBLE_EQ(g->ratio, 0.5);
  EXPECT_EQ(g->mode, "open");
}

TEST(Registry, ReportsEveryProblemAtOnce) {
  ensure_gadgets();
  Config c = Config::table();
  c.set("size", "big");        // wrong type
  c.set("ratio", 1.5);         // out of range
  c.set("moed", "open");       // unknown key (typo)
  c.set("mode", "ajar");       // not a choice
  Config b = box(c);
  b.at("size").set_loc({"spec.lua", 8, ""});
  b.at("ratio").set_loc({"spec.lua", 9, ""});
  b.at("moed").set_loc({"spec.lua", 10, ""});
  std::vector<std::string> errors = Registry::global().validate(b);
  ASSERT_EQ(errors.size(), 4u);
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  EXPECT_NE(all.find("spec.lua:8: model.size: expected integer >= 1, got \"big\""), std::string::npos) << all;
  EXPECT_NE(all.find("spec.lua:9: model.ratio: expected number in [0, 1], got 1.5"), std::string::npos) << all;
  EXPECT_NE(all.find("spec.lua:10: model.moed: unknown key \"moed\" (did you mean \"mode\"?)"), std::string::npos) << all;
  EXPECT_NE(all.find("model.mode: expected one of \"open\", \"closed\", got \"ajar\""), std::string::npos) << all;
}

TEST(Registry, MissingRequiredParameter) {
  ensure_gadgets();
  Config b = box(Config::table());
  std::vector<std::string> errors = Registry::global().validate(b);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("missing required key \"size\""), std::string::npos) << errors[0];
}

TEST(Registry, NestedComponentsAreValidated) {
  ensure_gadgets();
  Config inner = Config::table();
  inner.set("size", 0);
  inner.set_component("gadget", "box");
  Config c = Config::table();
  c.set("size", 2);
  c.set("inner", inner);
  Config b = box(c);
  std::vector<std::string> errors = Registry::global().validate(b);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("model.inner.size: expected integer >= 1, got 0"), std::string::npos) << errors[0];
}

TEST(Registry, FactoryThatIgnoresAParameterIsAPluginBug) {
  ensure_gadgets();
  Config c = Config::table();
  c.set_component("gadget", "lazy");
  try {
    Registry::global().create<Gadget>(c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did not read its parameter \"ignored\""), std::string::npos) << e.what();
  }
}

TEST(Registry, WrongInterfaceIsRefused) {
  ensure_gadgets();
  Config c = Config::table();
  c.set("size", 1);
  EXPECT_THROW(Registry::global().create<testing::Widget>(box(c)), Error);
}

TEST(Registry, ResolveByBareOrQualifiedName) {
  ensure_gadgets();
  EXPECT_EQ(Registry::global().resolve("gadget.box").name, "box");
  EXPECT_EQ(Registry::global().resolve("box").kind, "gadget");
  try {
    Registry::global().resolve("bxo");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean \"box\""), std::string::npos) << e.what();
  }
}

TEST(Registry, UnknownKindIsRefused) {
  EXPECT_THROW(Registry::global().add<Gadget>("gizmo", "x", Schema(), [](const Config&) { return std::make_shared<Gadget>(); }),
               Error);
}

std::string plugin(const char* name) { return std::string(KILN_TEST_PLUGIN_DIR) + "/" + name + ".so"; }

TEST(Plugins, LoadsAndRegisters) {
  const LoadedPlugin& p = load_plugin(plugin("test_good_plugin"));
  EXPECT_EQ(p.name, "test_good");
  EXPECT_EQ(p.version, "1.2.3");
  const ComponentInfo* c = Registry::global().find("widget", "greeter");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->plugin, "test_good");
  Config cfg = Config::table();
  cfg.set("greeting", "hi");
  cfg.set_component("widget", "greeter");
  EXPECT_EQ(Registry::global().create<testing::Widget>(cfg)->hello(), "hi");
  // Loading the same file again is a no-op.
  EXPECT_NO_THROW(load_plugin(plugin("test_good_plugin")));
}

TEST(Plugins, OtherAbiIsRefusedWithBothNumbers) {
  try {
    load_plugin(plugin("test_abi_plugin"));
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("ABI version " + std::to_string(kAbiVersion + 41)), std::string::npos) << m;
    EXPECT_NE(m.find("ABI version " + std::to_string(kAbiVersion)), std::string::npos) << m;
    EXPECT_NE(m.find("test_abi_plugin.so"), std::string::npos) << m;
  }
}

TEST(Plugins, LibraryWithoutEntryPointIsRefusedWithItsPath) {
  try {
    load_plugin(plugin("test_no_entry_plugin"));
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("test_no_entry_plugin.so"), std::string::npos) << m;
    EXPECT_NE(m.find("kiln_plugin"), std::string::npos) << m;
  }
}

TEST(Plugins, DuplicateNameNamesBothPlugins) {
  load_plugin(plugin("test_good_plugin"));
  try {
    load_plugin(plugin("test_duplicate_plugin"));
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("widget.greeter"), std::string::npos) << m;
    EXPECT_NE(m.find("\"test_good\""), std::string::npos) << m;
    EXPECT_NE(m.find("\"test_duplicate\""), std::string::npos) << m;
  }
}

TEST(Plugins, MissingFileIsAClearError) {
  try {
    load_plugin("/nonexistent/libnothing.so");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/libnothing.so: no such file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
