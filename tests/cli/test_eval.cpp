// kiln eval end to end: options, suites and their errors.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
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

class Eval : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_eval_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "run");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  std::string run() const { return (dir_ / "run").string(); }
  fs::path dir_;
};

TEST_F(Eval, NeedsARunAndASuite) {
  Result a = kiln("eval " + run());
  EXPECT_EQ(a.code, 1);
  EXPECT_NE(a.out.find("expected --suite FILE"), std::string::npos) << a.out;
  Result b = kiln("eval " + (dir_ / "nowhere").string() + " --suite " +
                  std::string(KILN_SOURCE_DIR) + "/eval/suites/standard.lua");
  EXPECT_EQ(b.code, 1);
  EXPECT_NE(b.out.find("nowhere: no such run directory"), std::string::npos) << b.out;
  Result c = kiln("eval " + run() + " --suite x.lua --batch 0");
  EXPECT_EQ(c.code, 1);
  EXPECT_NE(c.out.find("--batch must be >= 1, got 0"), std::string::npos) << c.out;
}

TEST_F(Eval, TasksAndLimitAreChecked) {
  const std::string suite = std::string(KILN_SOURCE_DIR) + "/eval/suites/standard.lua";
  Result a = kiln("eval " + run() + " --suite " + suite + " --tasks perplexity,agieval");
  EXPECT_EQ(a.code, 1);
  EXPECT_NE(a.out.find("--tasks: the suite has no evaluator named \"agieval\" (it has: "
                       "perplexity, mmlu, bbh)"),
            std::string::npos)
      << a.out;
  Result b = kiln("eval " + run() + " --suite " + suite + " --limit 0");
  EXPECT_EQ(b.code, 1);
  EXPECT_NE(b.out.find("--limit must be >= 1, got 0"), std::string::npos) << b.out;
}

TEST_F(Eval, BbhAndAgievalSuitesCheckAsSpecs) {
  for (const char* name : {"bbh.lua", "agieval.lua"}) {
    std::string suite = std::string(KILN_SOURCE_DIR) + "/eval/suites/" + name;
    std::string spec = write("spec.lua", "return { eval = include(\"" + suite + "\") }\n");
    Result r = kiln("spec check " + spec);
    EXPECT_EQ(r.code, 0) << name << ": " << r.out;
  }
}

TEST_F(Eval, StandardSuiteChecksAsASpec) {
  // The standard suite is valid Lua and every evaluator in it validates.
  std::string suite = std::string(KILN_SOURCE_DIR) + "/eval/suites/standard.lua";
  std::string spec = write("spec.lua", "return { eval = include(\"" + suite + "\") }\n");
  Result r = kiln("spec check " + spec);
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(Eval, SuiteErrorsNameTheFileLineAndField) {
  std::string s =
      write("suite.lua", "return {\n  perplexity {},\n  perplexity { method = \"sliding\" },\n}\n");
  Result r = kiln("eval " + run() + " --suite " + s);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("suite.lua:3: suite[2].method"), std::string::npos) << r.out;

  std::string t = write("t.lua", "return { adamw {} }\n");
  Result u = kiln("eval " + run() + " --suite " + t);
  EXPECT_EQ(u.code, 1);
  EXPECT_NE(u.out.find("expected an evaluator (perplexity {}, ...), got optimizer adamw"),
            std::string::npos)
      << u.out;

  std::string e = write("e.lua", "return {}\n");
  Result v = kiln("eval " + run() + " --suite " + e);
  EXPECT_EQ(v.code, 1);
  EXPECT_NE(v.out.find("the suite lists no evaluators"), std::string::npos) << v.out;

  std::string f = write("f.lua", "return { perplexity { method = \"strided\", stride = 0 } }\n");
  Result w = kiln("eval " + run() + " --suite " + f);
  EXPECT_EQ(w.code, 1);
  EXPECT_NE(w.out.find("stride"), std::string::npos) << w.out;
  EXPECT_FALSE(fs::exists(dir_ / "run" / "results.json"));
}

}  // namespace
