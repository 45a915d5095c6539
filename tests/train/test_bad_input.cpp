// Bad input to the trainer: each a clear error naming the file or the field, and nothing
// written (a fresh run directory is not even created; a run resumed from stays as it was).
#include <gtest/gtest.h>

#include "core/train/checkpoint.h"
#include "core/train/trainer.h"
#include "tests/train/train_test_util.h"

namespace kiln::testing {
namespace {

class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { load_test_plugins(); }
  void SetUp() override { null_ = std::fopen("/dev/null", "w"); }
  void TearDown() override { std::fclose(null_); }

  train::TrainerOptions options(const std::string& out) {
    train::TrainerOptions o;
    o.out = out;
    o.console = null_;
    o.mfu = false;
    o.handle_signals = false;
    return o;
  }
  // The message of the Error that making (and running) a trainer throws.
  std::string error_of(const Config& spec, const std::string& out, bool require_resume = false) {
    train::TrainerOptions o = options(out);
    o.require_resume = require_resume;
    try {
      train::Trainer t(spec, o);
      t.run();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  // Every file under dir with its contents.
  std::map<std::string, std::string> snapshot(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file()) out[e.path().string()] = read_file(e.path().string());
    return out;
  }

  TempDir dir_;
  std::FILE* null_ = nullptr;
};

TEST_F(BadInput, MissingDataFile) {
  const std::string spec = write_spec(dir_, "", "", "");
  std::string msg = error_of(load(spec, {"data.path=/nonexistent/input.txt"}), dir_ / "run");
  EXPECT_NE(msg.find("/nonexistent/input.txt: cannot read the data file"), std::string::npos)
      << msg;
  EXPECT_FALSE(fs::exists(dir_ / "run"));
}

TEST_F(BadInput, EmptyDataFile) {
  const std::string spec = write_spec(dir_);
  write_file(dir_ / "empty.txt", "");
  std::string msg = error_of(load(spec, {"data.path=" + (dir_ / "empty.txt")}), dir_ / "run");
  EXPECT_NE(msg.find(dir_ / "empty.txt" + ": the data file is empty"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir_ / "run"));
}

TEST_F(BadInput, DataTooShortForOneSequence) {
  const std::string spec = write_spec(dir_);
  write_file(dir_ / "short.txt", "tiny");
  std::string msg = error_of(load(spec, {"data.path=" + (dir_ / "short.txt")}), dir_ / "run");
  EXPECT_NE(
      msg.find(
          "data: the training split has 4 tokens, not enough for one sequence of seq_len + 1 = 17"),
      std::string::npos)
      << msg;
  EXPECT_FALSE(fs::exists(dir_ / "run"));
}

TEST_F(BadInput, SequenceLongerThanTheContext) {
  const std::string spec = write_spec(dir_, "seq_len = 32");
  std::string msg = error_of(load(spec), dir_ / "run");
  EXPECT_NE(
      msg.find(spec +
               ":4: train.seq_len: seq_len 32 is longer than the model's context (16 positions)"),
      std::string::npos)
      << msg;
  EXPECT_FALSE(fs::exists(dir_ / "run"));
}

TEST_F(BadInput, TokenizerVocabularyLargerThanTheModels) {
  const std::string spec = write_spec(dir_, "", "vocab = 100");
  std::string msg = error_of(load(spec), dir_ / "run");
  EXPECT_NE(
      msg.find(
          spec +
          ":3: data: the tokenizer's vocabulary has 256 tokens but the model's holds only 100"),
      std::string::npos)
      << msg;
  EXPECT_NE(msg.find("model at " + spec + ":2"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir_ / "run"));
}

TEST_F(BadInput, SpecErrorsCarryFileAndLine) {
  const std::string spec = write_spec(dir_, "precision = \"fp8\", grad_accum = 0, stepz = 3");
  try {
    load(spec);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(
        msg.find(spec + ":4: train.precision: expected one of \"f32\", \"bf16\", got \"fp8\""),
        std::string::npos)
        << msg;
    EXPECT_NE(msg.find(spec + ":4: train.grad_accum: expected integer >= 1, got 0"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("train.stepz: unknown key \"stepz\" (did you mean \"steps\"?)"),
              std::string::npos)
        << msg;
  }
}

TEST_F(BadInput, ResumeWithoutACheckpoint) {
  const std::string spec = write_spec(dir_);
  std::string msg = error_of(load(spec), dir_ / "run", /*require_resume=*/true);
  EXPECT_NE(msg.find(dir_ / "run" + ": no checkpoint to resume from"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir_ / "run"));
}

class BadResume : public BadInput {
 protected:
  void SetUp() override {
    BadInput::SetUp();
    spec_ = write_spec(dir_, "steps = 4");
    train::Trainer t(load(spec_), options(dir_ / "run"));
    t.run();
    ckpt_ = train::latest_checkpoint(dir_ / "run/checkpoints")->path;
  }
  // Resuming (with a longer run) fails with a message holding `expected`, and leaves every
  // file of the run as it was.
  void expect_refused(const std::string& expected,
                      std::vector<std::string> overrides = {"train.steps=8"}) {
    auto before = snapshot(dir_ / "run");
    std::string msg = error_of(load(spec_, overrides), dir_ / "run");
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
    EXPECT_EQ(snapshot(dir_ / "run"), before);
  }
  std::string spec_, ckpt_;
};

TEST_F(BadResume, CorruptModelWeights) {
  write_file(ckpt_ + "/model.safetensors", "not a safetensors file at all");
  expect_refused(ckpt_ + "/model.safetensors");
}

TEST_F(BadResume, TruncatedOptimizerState) {
  std::string s = read_file(ckpt_ + "/optimizer.safetensors");
  write_file(ckpt_ + "/optimizer.safetensors", s.substr(0, s.size() / 2));
  expect_refused(ckpt_ + "/optimizer.safetensors");
}

TEST_F(BadResume, CorruptState) {
  write_file(ckpt_ + "/state.json", "{\"step\": 4, \"rng\": 12}");
  expect_refused(ckpt_ + "/state.json: the checkpoint's state does not fit this run");
}

TEST_F(BadResume, AnotherModelInTheRunDirectory) {
  expect_refused(dir_ / "run" + ": the run directory holds a run of another model",
                 {"train.steps=8", "model.d_model=12"});
}

TEST_F(BadResume, WeightsOfAnotherShape) {
  // Without spec.json to compare with, the weights themselves are refused.
  fs::remove(dir_ / "run/spec.json");
  auto before = snapshot(dir_ / "run");
  std::string msg = error_of(load(spec_, {"model.d_model=12"}), dir_ / "run");
  EXPECT_NE(msg.find(ckpt_ + "/model.safetensors does not fit the model"), std::string::npos)
      << msg;
  EXPECT_EQ(snapshot(dir_ / "run"), before);
}

}  // namespace
}  // namespace kiln::testing
