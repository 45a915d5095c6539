// Bad input: each a kiln::Error that names the spec's file, line and field, and the data file.
#include <gtest/gtest.h>

#include "tests/plugins/datasets/util.h"

namespace kiln::testing {
namespace {

using data::Split;
using BadInput = DatasetsTest;

TEST_F(BadInput, AMissingFileNamesTheFileAndTheField) {
  auto d = dataset("text { path = " + lua(path("nope.txt")) + ", tokenizer = test_char {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*d); }), "spec.lua:2: data.path: ", "nope.txt",
                   "no such file");
}

TEST_F(BadInput, AnEmptyFileNamesTheFile) {
  write("a.txt", "some text");
  write("empty.txt", "");
  auto d = dataset("text { path = " + lua(path("*.txt")) + ", tokenizer = test_char {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*d); }), "spec.lua:2: data.path: ", "empty.txt",
                   "the file is empty");
}

TEST_F(BadInput, AGlobThatMatchesNothing) {
  auto d = dataset("jsonl { path = { " + lua(path("*.none")) + " }, tokenizer = test_bytes {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*d); }), "data.path", "glob", "*.none",
                   "matches no file");
}

TEST_F(BadInput, AFolderIsNotAFile) {
  fs::create_directories(path("folder"));
  auto d = dataset("text { path = " + lua(path("folder")) + ", tokenizer = test_char {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*d); }), "data.path", "is a folder", "folder/*.txt");
}

TEST_F(BadInput, AValSplitSmallerThanOneWindow) {
  write("in.txt", std::string(1000, 'x'));
  // 1% of 1000 bytes: 10 val tokens, fewer than seq_len + 1 = 65.
  auto d = dataset("text { path = " + lua(path("in.txt")) +
                   ", tokenizer = test_char {}, split = { val = 0.01 } }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*d, 0, 64); }),
                   "spec.lua:2: data.split.val: ", "the val split has 10 tokens",
                   "seq_len + 1 = 65");
  // Without seq_len at prepare, the first val batch says the same.
  auto late = dataset("text { path = " + lua(path("in.txt")) +
                      ", tokenizer = test_char {}, split = { val = 0.01 } }");
  prepare(*late);
  EXPECT_ERROR_HAS(error_of([&] { late->next(Split::val, 1, 64); }), "data.split.val",
                   "the val split has 10 tokens");
}

TEST_F(BadInput, ASequenceLongerThanTheTrainSplit) {
  write("in.txt", std::string(50, 'x'));
  auto d = dataset("text { path = " + lua(path("in.txt")) + ", tokenizer = test_char {} }");
  EXPECT_ERROR_HAS(error_of([&] { prepare(*d, 0, 64); }),
                   "spec.lua:2: data.path: ", "the train split has 45 tokens", "seq_len + 1 = 65");
}

TEST_F(BadInput, NoValSplitToDrawFrom) {
  write("in.txt", std::string(500, 'x'));
  auto d = dataset("text { path = " + lua(path("in.txt")) +
                   ", tokenizer = test_char {}, split = { val = 0 } }");
  prepare(*d, 0, 64);
  EXPECT_ERROR_HAS(error_of([&] { d->next(Split::val, 1, 64); }), "data.split.val", "no val split");
}

TEST_F(BadInput, SplitAndPathFieldsAreChecked) {
  write("in.txt", "abc");
  EXPECT_ERROR_HAS(error_of([&] {
                     dataset("text { path = " + lua(path("in.txt")) +
                             ", tokenizer = test_char {}, split = { val = 1.5 } }");
                   }),
                   "spec.lua:2: data.split.val: ", "[0, 1)", "1.5");
  EXPECT_ERROR_HAS(error_of([&] {
                     dataset("text { path = " + lua(path("in.txt")) +
                             ", tokenizer = test_char {}, split = { valid = 0.1 } }");
                   }),
                   "data.split", "unknown key \"valid\"");
  EXPECT_ERROR_HAS(error_of([&] { dataset("text { path = 3, tokenizer = test_char {} }"); }),
                   "data.path", "expected a file, a glob, or a list of them");
  EXPECT_ERROR_HAS(error_of([&] { dataset("text { path = \"x\" }"); }), "tokenizer");
  EXPECT_ERROR_HAS(
      error_of([&] {
        dataset("text { path = \"x\", tokenizer = test_char {}, sampling = \"pakced\" }");
      }),
      "data.sampling", "did you mean \"packed\"");
}

TEST_F(BadInput, NextBeforePrepare) {
  auto d = dataset("text { path = \"x\", tokenizer = test_char {} }");
  EXPECT_ERROR_HAS(error_of([&] { d->next(Split::train, 1, 8); }), "before prepare");
}

}  // namespace
}  // namespace kiln::testing
