// The tokenisation progress line, on a fake clock.
#include <gtest/gtest.h>

#include <cstdio>

#include "plugins/datasets/progress.h"

namespace kiln::datasets {
namespace {

struct Captured {
  std::FILE* f = std::tmpfile();
  ~Captured() { std::fclose(f); }
  std::string text() {
    std::fflush(f);
    std::rewind(f);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    return s;
  }
};

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(Progress, ShortWorkPrintsNothing) {
  Captured out;
  double now = 0;
  ProgressOptions o;
  o.out = out.f;
  o.clock = [&] { return now; };
  o.terminal = false;
  {
    Progress p("in.txt", 1000, o);
    for (int i = 1; i <= 10; ++i) {
      now = 0.15 * i;  // done in 1.5 s, under the 2 s delay
      p.update(100 * i, 50 * i);
    }
  }
  EXPECT_EQ(out.text(), "");
}

TEST(Progress, OneLinePerIntervalOffATerminal) {
  Captured out;
  double now = 0;
  ProgressOptions o;
  o.out = out.f;
  o.clock = [&] { return now; };
  o.terminal = false;
  Progress p("in.txt", 60'000'000, o);
  // 60 s of work, an update every 0.5 s: lines at 2 s, then every 10 s (12, 22, ... 52), and
  // the final one.
  for (int i = 1; i <= 120; ++i) {
    now = 0.5 * i;
    p.update(500'000 * int64_t(i), 100'000 * int64_t(i));
  }
  p.finish();
  std::string s = out.text();
  EXPECT_EQ(count(s, "\n"), 7u) << s;
  EXPECT_EQ(count(s, "\r"), 0u) << s;
  EXPECT_NE(s.find("tokenizing in.txt: 3.3% of 60.0 MB, 1.0 MB/s, 400,000 tokens, 58 s left\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("tokenizing in.txt: 60.0 MB in 1m00s, 1.0 MB/s, 12,000,000 tokens\n"),
            std::string::npos)
      << s;
}

TEST(Progress, RewritesOneLineOnATerminal) {
  Captured out;
  double now = 0;
  ProgressOptions o;
  o.out = out.f;
  o.clock = [&] { return now; };
  o.terminal = true;
  Progress p("x", 1000, o);
  for (int i = 1; i <= 50; ++i) {
    now = 0.1 * i;
    p.update(20 * i, i);
  }
  p.finish();
  std::string s = out.text();
  // From 2 s to 5 s, at most one line per 0.2 s, each starting with \r and clearing the line.
  EXPECT_GE(count(s, "\r"), 10u) << s;
  EXPECT_LE(count(s, "\r"), 17u) << s;
  EXPECT_EQ(count(s, "\r"), count(s, "\033[K"));
  EXPECT_EQ(count(s, "\n"), 1u) << s;  // only the final line ends one
}

TEST(Progress, DisabledPrintsNothing) {
  Captured out;
  double now = 0;
  ProgressOptions o;
  o.out = out.f;
  o.clock = [&] { return now; };
  o.enabled = false;
  Progress p("x", 1000, o);
  now = 100;
  p.update(500, 10);
  p.finish();
  EXPECT_EQ(out.text(), "");
}

}  // namespace
}  // namespace kiln::datasets
