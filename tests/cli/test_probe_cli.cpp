// kiln probe end to end: a tiny character model trained for a few steps, then probed by name and
// through a probe spec; the JSON and SVG files it writes, and its errors.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;
};

Result kiln(const std::string& args) {
  std::string cmd = std::string(KILN_BINARY) + " " + args + " 2>&1";
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

bool parses_as_xml(const fs::path& file) {
  if (std::system("python3 -c 'pass' > /dev/null 2>&1") != 0) return true;  // nothing to check with
  const std::string cmd =
      "python3 -c \"import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])\" " +
      file.string();
  return std::system(cmd.c_str()) == 0;
}

class ProbeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_probe_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::string text;
    for (int i = 0; i < 200; ++i) text += "the quick brown fox jumps over the lazy dog\n";
    std::ofstream(dir_ / "corpus.txt") << text;
    std::ofstream(dir_ / "spec.lua") << "return {\n"
                                        "  model = decoder { vocab = 32, d_model = 16, n_layers = "
                                        "2, n_heads = 2, context = 16 },\n"
                                        "  data = text { path = \""
                                     << (dir_ / "corpus.txt").string()
                                     << "\", tokenizer = char {}, split = { val = 0.1 } },\n"
                                        "  train = { objective = causal_lm {}, optimizer = adamw { "
                                        "lr = 1e-2 }, batch = 4, steps = 5 },\n"
                                        "}\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string run() const { return (dir_ / "run").string(); }
  fs::path dir_;
};

TEST_F(ProbeCli, ProbesATrainedRunByNameAndBySpec) {
  Result t = kiln("train " + (dir_ / "spec.lua").string() + " --out " + run());
  ASSERT_EQ(t.code, 0) << t.out;
  Result r = kiln("probe " + run() + " logit_lens --prompt \"the qu\" --target i --set top_k=3");
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path lens = dir_ / "run" / "probes" / "logit_lens";
  ASSERT_TRUE(fs::exists(lens / "logit_lens.json")) << r.out;
  std::stringstream json;
  json << std::ifstream(lens / "logit_lens.json").rdbuf();
  EXPECT_NE(json.str().find("\"target_rank\""), std::string::npos);
  EXPECT_TRUE(parses_as_xml(lens / "logit_lens.svg"));

  std::ofstream(dir_ / "probes.lua")
      << "return {\n"
         "  attention_patterns { prompt = \"the lazy\" },\n"
         "  activation_patching { clean = { \"the fox\" }, corrupted = { \"the dog\" }, answer = { "
         "\" \" },\n"
         "                        wrong = { \"x\" } },\n"
         "  ablation { texts = { \"the quick brown\" }, kind = \"mean\" },\n"
         "}\n";
  Result s = kiln("probe " + run() + " " + (dir_ / "probes.lua").string());
  ASSERT_EQ(s.code, 0) << s.out;
  for (const char* f :
       {"attention_patterns/attention_layer1.svg", "activation_patching/patching_resid.svg",
        "activation_patching/patching_z.svg", "ablation/ablation.svg"}) {
    EXPECT_TRUE(fs::exists(dir_ / "run" / "probes" / f)) << f << "\n" << s.out;
    EXPECT_TRUE(parses_as_xml(dir_ / "run" / "probes" / f)) << f;
  }
}

TEST_F(ProbeCli, ErrorsNameTheProblem) {
  fs::create_directories(run());  // the probe is checked before a model is loaded
  Result a = kiln("probe " + run() + " logit_lenz --prompt x");
  EXPECT_EQ(a.code, 1);
  EXPECT_NE(a.out.find("did you mean \"logit_lens\""), std::string::npos) << a.out;
  Result b = kiln("probe " + run() + " logit_lens");
  EXPECT_EQ(b.code, 1);
  EXPECT_NE(b.out.find("prompt"), std::string::npos) << b.out;
  Result c = kiln("probe " + (dir_ / "nowhere").string() + " logit_lens --prompt x");
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.out.find("no such run directory"), std::string::npos) << c.out;
}

}  // namespace
