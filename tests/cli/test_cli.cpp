// End to end: the kiln program's commands, exit codes and messages.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
};

// Runs kiln; `stderr_to` "&1" merges stderr into out, "/dev/null" drops it.
Result kiln(const std::string& args, const std::string& stderr_to = "&1") {
  std::string cmd = std::string(KILN_BINARY) + " " + args + " 2>" + stderr_to;
  Result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_cli_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(Cli, PluginsListShowsKindPluginAndVersion) {
  Result r = kiln("plugins list");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("optimizer  adamw"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kiln_optimizers      0.1.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("schedule   cosine"), std::string::npos) << r.out;
}

TEST_F(Cli, DescribeShowsEveryParameterWithTypeDefaultAndDoc) {
  Result r = kiln("plugins describe adamw");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* line : {"lr : number = 0.001, >= 0", "betas : list of number = [0.9,0.999]",
                           "eps : number = 1e-8, >= 0", "weight_decay : number = 0.01, >= 0",
                           "decoupled decay: p -= lr * weight_decay * p"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  Result bad = kiln("plugins describe adamm");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("did you mean \"adamw\""), std::string::npos) << bad.out;
}

TEST_F(Cli, ThreeSpecErrorsReportedTogetherWithExitCode1) {
  std::string p = write("bad.lua",
                        "return {\n"
                        "  train = { steps = 1,\n"
                        "    optimizer = adamw {\n"
                        "      lr = \"fast\",\n"
                        "      momentum = 0.9,\n"
                        "      weight_decay = -1,\n"
                        "    },\n"
                        "  },\n"
                        "}\n");
  Result r = kiln("spec check " + p);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(p + ":4: train.optimizer.lr: expected number >= 0, got \"fast\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(p + ":5: train.optimizer.momentum: unknown key \"momentum\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(p + ":6: train.optimizer.weight_decay: expected number >= 0, got -1"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("terminate"), std::string::npos) << r.out;
}

TEST_F(Cli, SandboxViolationIsAUserError) {
  Result r = kiln("spec check " + write("os.lua", "os.execute('touch /tmp/pwned')\nreturn {}\n"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("sandbox: os.execute is not available in specs"), std::string::npos) << r.out;
}

TEST_F(Cli, LuaSyntaxErrorNamesFileAndLine) {
  std::string p = write("syn.lua", "return {\n  seed = 1,,\n}\n");
  Result r = kiln("spec check " + p);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(p + ":2:"), std::string::npos) << r.out;
}

TEST_F(Cli, MissingFileAndBadOptionsAreUserErrors) {
  Result r = kiln("spec check /nonexistent/spec.lua");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/nonexistent/spec.lua: cannot read the spec"), std::string::npos) << r.out;
  Result o = kiln("spec check --bogus-option x.lua");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.out.find("--help"), std::string::npos) << o.out;
  Result u = kiln("frobnicate");
  EXPECT_EQ(u.code, 1);
}

TEST_F(Cli, EverySubcommandHasHelp) {
  for (const char* c : {"train", "eval", "generate", "export", "probe", "data", "plugins", "spec", "version"}) {
    Result r = kiln(std::string(c) + " --help");
    EXPECT_EQ(r.code, 0) << c << ": " << r.out;
    EXPECT_NE(r.out.find("usage: kiln"), std::string::npos) << c << ": " << r.out;
    EXPECT_NE(r.out.find("example:"), std::string::npos) << c << ": " << r.out;
  }
}

TEST_F(Cli, DumpThenCheckTheJsonGivesTheSameSpec) {
  std::string p = write("s.lua",
                        "return { train = { steps = 100, optimizer = adamw { lr = 3e-4 }, schedule = cosine { warmup = 10, "
                        "total = 100 } }, seed = 3 }\n");
  Result a = kiln("spec dump " + p);
  ASSERT_EQ(a.code, 0) << a.out;
  std::string json = write("s.json", a.out);
  EXPECT_EQ(kiln("spec check " + json).code, 0);
  Result b = kiln("spec dump " + json);
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out.find("\"@component\": \"optimizer.adamw\""), std::string::npos) << a.out;
  EXPECT_NE(a.out.find("\"eps\": 1e-8"), std::string::npos) << a.out;  // defaults filled
}

// Issue 3: the resolved spec of every model in models/ survives JSON: dump, check the JSON,
// dump it again, byte for byte the same.
TEST_F(Cli, EveryModelSpecRoundTripsThroughJson) {
  const fs::path models = fs::path(KILN_SOURCE_DIR) / "models";
  // The published sizes (the dump reports the model's count on stderr): GPT-2 small; BERT-base
  // as Hugging Face's BertForPreTraining; RoBERTa-base as RobertaForMaskedLM; ALBERT-base as
  // AlbertForPreTraining; ELECTRA-base discriminator (ElectraForPreTraining, 109,483,009) plus
  // its generator without the shared embeddings (9,903,418); BART-base less the two unused
  // rows of each of Hugging Face's position tables (139,420,416 - 2 * 2 * 768); t5-base; ELMo's
  // biLSTMs (75,628,544) and a 32000-word table.
  const std::map<std::string, std::string> published{
      {"gpt2", "124,439,808"},    {"bert", "110,106,428"},    {"roberta", "124,697,433"},
      {"albert", "11,813,810"},   {"electra", "119,386,427"}, {"bart", "139,417,344"},
      {"t5", "222,903,552"},      {"elmo", "92,012,544"}};
  int n = 0;
  for (const auto& e : fs::directory_iterator(models)) {
    if (e.path().extension() != ".lua") continue;
    ++n;
    const std::string name = e.path().stem().string();
    const std::string err = (dir_ / (name + ".stderr")).string();
    Result a = kiln("spec dump " + e.path().string(), err);
    if (auto it = published.find(name); it != published.end()) {
      std::stringstream said;
      said << std::ifstream(err).rdbuf();
      EXPECT_NE(said.str().find("model: " + it->second + " parameters"), std::string::npos)
          << name << ": " << said.str();
    }
    ASSERT_EQ(a.code, 0) << name << ": " << kiln("spec dump " + e.path().string()).out;
    ASSERT_EQ(a.out.rfind("{", 0), 0u) << name << ": " << a.out;
    const std::string json = write(name + ".json", a.out);
    Result check = kiln("spec check " + json);
    EXPECT_EQ(check.code, 0) << name << ": " << check.out;
    Result b = kiln("spec dump " + json, "/dev/null");
    ASSERT_EQ(b.code, 0) << name;
    EXPECT_EQ(a.out, b.out) << name;
  }
  EXPECT_GE(n, 10) << "expected gpt2.lua, llama.lua, gpt2-char.lua and the encoder specs in "
                   << models;
}

// Each encoder family's spec, included, makes its tiny preset for tests (and the base size
// above); the tiny counts are small enough to train on a CPU.
TEST_F(Cli, EncoderSpecsHaveTinyPresets) {
  for (const char* name : {"bert", "roberta", "albert", "electra", "bart", "t5", "elmo"}) {
    const std::string path = std::string(KILN_SOURCE_DIR) + "/models/" + name + ".lua";
    const std::string spec =
        write(std::string(name) + "_tiny.lua", "local m = include \"" + path +
                                                   "\"\nreturn { model = m { size = \"tiny\", "
                                                   "vocab = 100, dropout = 0 } }\n");
    Result r = kiln("spec check " + spec);
    EXPECT_EQ(r.code, 0) << name << ": " << r.out;
    EXPECT_NE(r.out.find(" parameters"), std::string::npos) << name << ": " << r.out;
    Result bad = kiln("spec check " + write(std::string(name) + "_bad.lua",
                                            "local m = include \"" + path +
                                                "\"\nreturn { model = m { size = \"huge\" } }\n"));
    EXPECT_EQ(bad.code, 1) << name;
    EXPECT_NE(bad.out.find("unknown size 'huge'"), std::string::npos) << name << ": " << bad.out;
  }
}

TEST_F(Cli, SpecCheckBuildsTheModelAndReportsItsParameters) {
  const std::string gpt2 = std::string(KILN_SOURCE_DIR) + "/models/gpt2.lua";
  Result r = kiln("spec check " + gpt2);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("model: 124,439,808 parameters"), std::string::npos) << r.out;  // GPT-2 small, tied
  // A free size: V d + ctx d + L (12 d^2 + 13 d) + 2 d = 6400 + 2048 + 2 * 49984 + 128.
  Result s = kiln("spec dump " + gpt2 +
                  " --set model.vocab=100 --set model.n_layers=2 --set model.d_model=64 --set model.n_heads=4"
                  " --set model.context=32");
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_NE(s.out.find("model: 108,544 parameters"), std::string::npos) << s.out;
  Result l = kiln("spec check " + std::string(KILN_SOURCE_DIR) + "/models/llama.lua --set model.n_layers=1");
  ASSERT_EQ(l.code, 0) << l.out;
  EXPECT_NE(l.out.find(" parameters"), std::string::npos) << l.out;
}

TEST_F(Cli, SpecCheckReportsAModelThatCannotBeBuilt) {
  std::string p = write("bad.lua",
                        "return { model = decoder { vocab = 10, d_model = 30, n_layers = 1, n_heads = 4 } }\n");
  Result r = kiln("spec check " + p);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("d_model (30) is not a multiple of n_heads (4)"), std::string::npos) << r.out;
}

TEST_F(Cli, ComponentReferenceDocIsCurrent) {
  Result r = kiln("plugins describe --all --markdown");
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(std::string(KILN_SOURCE_DIR) + "/docs/components.md");
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_EQ(committed.str(), r.out)
      << "docs/components.md is out of date: regenerate it with\n  build/bin/kiln plugins describe --all --markdown > "
         "docs/components.md";
}

}  // namespace
