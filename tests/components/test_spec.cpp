// The spec DSL: sandbox, constructors, include/env, errors with file:line, overrides, JSON.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "dsl/spec.h"
#include "tests/components/gadgets.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

class Spec : public ::testing::Test {
 protected:
  void SetUp() override {
    ensure_gadgets();
    dir_ = fs::temp_directory_path() / ("kiln_spec_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

  // The message of the Error that loading throws ("" if none).
  std::string error_of(const std::string& path, dsl::SpecOptions opts = {}) {
    try {
      dsl::load_spec(path, opts);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(Spec, ConstructorsBuildComponentsWithTheirLine) {
  std::string p = write("a.lua",
                        "local x = 1\n"
                        "return {\n"
                        "  data = gadget.box { size = 3,\n"
                        "    inner = box { size = 2 } },\n"
                        "  seed = 5,\n"
                        "}\n");
  Config spec = dsl::load_spec(p);
  const Config& m = spec.at("data");
  ASSERT_TRUE(m.is_component());
  EXPECT_EQ(m.component_kind(), "gadget");
  EXPECT_EQ(m.component_name(), "box");
  EXPECT_EQ(m.loc().line, 3);
  EXPECT_EQ(m.at("inner").loc().line, 4);
  EXPECT_EQ(m.at("ratio").as_number(), 0.5);  // default filled
  EXPECT_EQ(spec.get<int>("seed"), 5);
}

TEST_F(Spec, AllValidationErrorsAtOnceWithFileLineAndPath) {
  std::string p = write("bad.lua",
                        "return {\n"
                        "  data = box {\n"
                        "    size = \"big\",\n"
                        "    colour = 3,\n"
                        "    ratio = 7,\n"
                        "  },\n"
                        "}\n");
  std::string m = error_of(p);
  EXPECT_NE(m.find(p + ":3: data.size: expected integer >= 1, got \"big\""), std::string::npos) << m;
  EXPECT_NE(m.find(p + ":4: data.colour: unknown key \"colour\""), std::string::npos) << m;
  EXPECT_NE(m.find(p + ":5: data.ratio: expected number in [0, 1], got 7"), std::string::npos) << m;
}

TEST_F(Spec, MisspelledTopLevelKeyGetsASuggestion) {
  std::string m = error_of(write("t.lua", "return { seeed = 3 }\n"));
  EXPECT_NE(m.find("unknown key \"seeed\" (did you mean \"seed\"?)"), std::string::npos) << m;
}

TEST_F(Spec, MisspelledConstructorGetsASuggestion) {
  std::string m = error_of(write("t.lua", "return { data = bxo { size = 1 } }\n"));
  EXPECT_NE(m.find("t.lua:1: unknown name 'bxo' (did you mean 'box'?)"), std::string::npos) << m;
}

TEST_F(Spec, SandboxRefusesOsIoAndLoaders) {
  for (const char* code : {"os.execute('true')", "io.open('/etc/passwd')", "require('socket')",
                           "load('return 1')", "dofile('/x.lua')", "debug.getinfo(1)"}) {
    std::string m = error_of(write("s.lua", std::string(code) + "\nreturn {}\n"));
    EXPECT_NE(m.find("sandbox:"), std::string::npos) << code << " -> " << m;
    EXPECT_NE(m.find("not available in specs"), std::string::npos) << code << " -> " << m;
  }
}

TEST_F(Spec, SyntaxErrorReportsFileAndLine) {
  std::string p = write("syn.lua", "return {\n  seed = 1\n  out = }\n");
  std::string m = error_of(p);
  EXPECT_NE(m.find(p + ":3:"), std::string::npos) << m;
}

TEST_F(Spec, RuntimeErrorShowsTraceback) {
  std::string p = write("rt.lua", "local function f()\n  error('boom')\nend\nf()\nreturn {}\n");
  std::string m = error_of(p);
  EXPECT_NE(m.find(p + ":2: boom"), std::string::npos) << m;
  EXPECT_NE(m.find("stack traceback"), std::string::npos) << m;
  EXPECT_NE(m.find(p + ":4:"), std::string::npos) << m;
}

TEST_F(Spec, BytecodeIsRefused) {
  std::string p = write("bc.lua", std::string("\x1bLua\x54\x00", 6) + "garbage");
  std::string m = error_of(p);
  EXPECT_NE(m.find("bytecode"), std::string::npos) << m;
}

TEST_F(Spec, InstructionLimitStopsEndlessLoops) {
  dsl::SpecOptions o;
  o.limits.instructions = 1'000'000;
  std::string m = error_of(write("loop.lua", "while true do end\n"), o);
  EXPECT_NE(m.find("sandbox: the spec ran more than 1 million instructions"), std::string::npos) << m;
}

TEST_F(Spec, MemoryLimitStopsRunawayAllocation) {
  dsl::SpecOptions o;
  o.limits.memory_bytes = 8 << 20;
  std::string m = error_of(write("mem.lua", "local t = {}\nfor i = 1, 1e8 do t[i] = i end\nreturn {}\n"), o);
  EXPECT_NE(m.find("not enough memory"), std::string::npos) << m;
}

TEST_F(Spec, RandomSeedIsFixed) {
  std::string p = write("r.lua", "return { seed = math.random(1, 1000000) }\n");
  EXPECT_EQ(dsl::load_spec(p).get<int>("seed"), dsl::load_spec(p).get<int>("seed"));
}

TEST_F(Spec, IncludeIsRelativeToTheIncludingFile) {
  write("lib/sizes.lua", "return { small = 2, big = 9 }\n");
  write("lib/model.lua", "local s = include 'sizes.lua'\nreturn function(n) return box { size = s[n] } end\n");
  std::string p = write("main.lua", "local m = include 'lib/model.lua'\nreturn { data = m('big') }\n");
  EXPECT_EQ(dsl::load_spec(p).at("data").get<int>("size"), 9);
}

TEST_F(Spec, IncludeCycleIsDetected) {
  write("a.lua", "return include 'b.lua'\n");
  write("b.lua", "return include 'a.lua'\n");
  std::string m = error_of((dir_ / "a.lua").string());
  EXPECT_NE(m.find("include: cycle"), std::string::npos) << m;
}

TEST_F(Spec, EnvReadsVariablesWithDefaults) {
  ::setenv("KILN_TEST_SEED", "42", 1);
  ::unsetenv("KILN_TEST_UNSET");
  std::string p = write("e.lua", "return { seed = env('KILN_TEST_SEED', 1), out = env('KILN_TEST_UNSET', 'runs/x') }\n");
  Config c = dsl::load_spec(p);
  EXPECT_EQ(c.get<int>("seed"), 42);
  EXPECT_EQ(c.get<std::string>("out"), "runs/x");
}

TEST_F(Spec, OverridesAreCoercedAndLocated) {
  std::string p = write("o.lua", "return { data = box { size = 3 }, out = 'a' }\n");
  dsl::SpecOptions o;
  o.overrides = {"data.size=5", "data.mode=closed", "out=123", "data.dims={4,5}",
                 "data.inner=box{size=7}", "seed=9"};
  Config c = dsl::load_spec(p, o);
  EXPECT_EQ(c.at("data").get<int>("size"), 5);
  EXPECT_EQ(c.at("data").get<std::string>("mode"), "closed");
  EXPECT_EQ(c.get<std::string>("out"), "123");  // a string field keeps the text
  EXPECT_EQ(c.at("data").at("dims").size(), 2u);
  EXPECT_EQ(c.at("data").at("inner").get<int>("size"), 7);
  EXPECT_EQ(c.get<int>("seed"), 9);
  o.overrides = {"data.size=0"};
  std::string m = error_of(p, o);
  EXPECT_NE(m.find("--set data.size: data.size: expected integer >= 1, got 0"), std::string::npos) << m;
}

TEST_F(Spec, DumpedJsonChecksBackToTheSameConfig) {
  std::string p = write("d.lua", "return { data = box { size = 3, inner = box { size = 1, dims = {2} } }, seed = 4 }\n");
  Config a = dsl::load_spec(p);
  std::string json = write("d.json", a.to_json());
  Config b = dsl::load_spec(json);
  EXPECT_TRUE(a == b) << a.to_json() << "\n---\n" << b.to_json();
  EXPECT_EQ(a.to_json(), b.to_json());
}

TEST_F(Spec, NonTableResultIsAnError) {
  std::string m = error_of(write("n.lua", "return 5\n"));
  EXPECT_NE(m.find("a spec must return a table"), std::string::npos) << m;
}

TEST_F(Spec, FunctionsCannotBeValues) {
  std::string m = error_of(write("f.lua", "return { out = function() end }\n"));
  EXPECT_NE(m.find("out: a function cannot be a spec value"), std::string::npos) << m;
}

}  // namespace
}  // namespace kiln
