// `kiln data tokenize` end to end: the kiln program writes shards, the shards dataset reads them.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "tests/plugins/datasets/util.h"

namespace kiln::testing {
namespace {

using data::Split;

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

std::string text_of(size_t n) {
  std::string s;
  for (size_t i = 0; s.size() < n; ++i)
    s += "line " + std::to_string(i * 37 % 101) + ": to be or not\n";
  return s.substr(0, n);
}

using Tokenize = DatasetsTest;

TEST_F(Tokenize, WritesShardsThatTheShardsDatasetReadsBack) {
  const std::string text = text_of(1000);
  const std::string data =
      "text { path = " + lua(write("in.txt", text)) + ", tokenizer = test_char {} }";
  write("tokenize.lua",
        "return { plugins = { " + lua(KILN_TEST_TOKENIZER_PLUGIN) + " }, data = " + data + " }\n");
  const std::string out = path("shards");
  write("shards/NOTES", "a folder that exists keeps its other files");
  Result r =
      kiln("data tokenize " + path("tokenize.lua") + " --out " + out + " --shard-tokens 300");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("train: 900 tokens in 3 shards of uint16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("val: 100 tokens in 1 shard of uint16"), std::string::npos) << r.out;
  for (const char* f : {"train_000000.bin", "train_000001.bin", "train_000002.bin",
                        "val_000000.bin", "tokenizer_spec.json", "tokenizer.json"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  EXPECT_FALSE(fs::exists(fs::path(out) / "train_000003.bin"));
  EXPECT_TRUE(fs::exists(fs::path(out) / "NOTES"));
  for (const auto& e : fs::directory_iterator(dir_))  // the temporary folder is gone
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();

  // The same data prepared in this process, and the shards with the saved tokenizer.
  auto direct = dataset(data);
  prepare(*direct);
  auto shards = dataset("shards { path = " + lua(out) + " }");
  prepare(*shards);
  for (Split s : {Split::train, Split::val}) {
    auto a = direct->tokens(s), b = shards->tokens(s);
    EXPECT_EQ(std::vector<int32_t>(a.begin(), a.end()), std::vector<int32_t>(b.begin(), b.end()));
  }
  EXPECT_EQ(shards->tokenizer()->vocab_size(), direct->tokenizer()->vocab_size());
  auto train = shards->tokens(Split::train);
  EXPECT_EQ(shards->tokenizer()->decode({train.begin(), train.end()}), text.substr(0, 900));

  // A folder that does not exist yet, quietly.
  Result quiet = kiln("data tokenize " + path("tokenize.lua") + " --out " + path("a/b/c/") + " -q");
  EXPECT_EQ(quiet.code, 0) << quiet.out;
  EXPECT_EQ(quiet.out, "");
  EXPECT_TRUE(fs::exists(path("a/b/c/train_000000.bin")));
  EXPECT_TRUE(fs::exists(path("a/b/c/tokenizer_spec.json")));

  // Nothing is overwritten.
  auto before = fs::last_write_time(fs::path(out) / "train_000000.bin");
  Result again = kiln("data tokenize " + path("tokenize.lua") + " --out " + out);
  EXPECT_EQ(again.code, 1) << again.out;
  EXPECT_NE(again.out.find("already holds shards"), std::string::npos) << again.out;
  EXPECT_EQ(fs::last_write_time(fs::path(out) / "train_000000.bin"), before);
}

TEST_F(Tokenize, BadDataFailsWithExitCode1AndWritesNothing) {
  write("tokenize.lua", "return { plugins = { " + lua(KILN_TEST_TOKENIZER_PLUGIN) +
                            " },\n  data = text { path = " + lua(path("missing.txt")) +
                            ", tokenizer = test_char {} } }\n");
  Result r = kiln("data tokenize " + path("tokenize.lua") + " --out " + path("out"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("tokenize.lua:2: data.path: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("missing.txt\": no such file"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(path("out")));

  write("nodata.lua", "return { seed = 1 }\n");
  Result n = kiln("data tokenize " + path("nodata.lua") + " --out " + path("out"));
  EXPECT_EQ(n.code, 1) << n.out;
  EXPECT_NE(n.out.find("no data section"), std::string::npos) << n.out;

  Result o = kiln("data tokenize " + path("tokenize.lua"));
  EXPECT_EQ(o.code, 1) << o.out;
  EXPECT_NE(o.out.find("--out"), std::string::npos) << o.out;
  Result a = kiln("data shuffle " + path("tokenize.lua"));
  EXPECT_EQ(a.code, 1) << a.out;
  EXPECT_NE(a.out.find("unknown action \"shuffle\""), std::string::npos) << a.out;
}

TEST_F(Tokenize, HelpShowsUsageAndExample) {
  Result r = kiln("data --help");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("usage: kiln data tokenize SPEC.lua --out DIR"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--shard-tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("example:\n  kiln data tokenize"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kiln::testing
