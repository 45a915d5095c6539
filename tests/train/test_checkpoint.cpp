// Checkpoints on disk, the run loader, the metrics log and the progress line's formatting.
#include <gtest/gtest.h>

#include "core/tensor/factory.h"
#include "core/train/checkpoint.h"
#include "core/train/metrics_log.h"
#include "core/train/progress.h"
#include "core/train/run.h"
#include "core/train/trainer.h"
#include "tests/train/train_test_util.h"

namespace kiln::testing {
namespace {

Config state_at(int64_t step) {
  Config c = Config::table();
  c.set("step", Config(step));
  return c;
}

TEST(Checkpoint, WriteListReplaceAndPrune) {
  TempDir dir;
  const std::string cks = dir / "checkpoints";
  EXPECT_TRUE(train::list_checkpoints(cks).empty());
  EXPECT_FALSE(train::latest_checkpoint(cks));
  nn::StateDict model = {{"w", tensor({1, 2, 3}, {3})}};
  train::TensorDict opt = {{"step", scalar(3, DType::i64)}};
  for (int64_t s : {10, 5, 20}) train::write_checkpoint(cks, s, model, opt, state_at(s));
  std::vector<train::CheckpointRef> all = train::list_checkpoints(cks);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].step, 5);
  EXPECT_EQ(all[2].step, 20);
  EXPECT_EQ(fs::path(all[2].path).filename(), "step_00000020");

  // Rewriting a step replaces it with the new contents.
  model["w"] = tensor({7, 8, 9}, {3});
  train::write_checkpoint(cks, 20, model, opt, state_at(20));
  train::CheckpointData d = train::read_checkpoint(all[2].path);
  EXPECT_EQ(d.model.at("w").to_vector<float>(), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(d.optimizer.at("step").item(), 3);
  EXPECT_EQ(d.state.at("step").as_int(), 20);
  EXPECT_EQ(train::list_checkpoints(cks).size(), 3u);

  train::prune_checkpoints(cks, 2);
  all = train::list_checkpoints(cks);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].step, 10);

  // Leftovers of interrupted writes are not checkpoints, and are cleaned up.
  fs::create_directories(fs::path(cks) / ".tmp-step_00000030-1");
  EXPECT_EQ(train::list_checkpoints(cks).size(), 2u);
  train::remove_partial_checkpoints(cks);
  EXPECT_FALSE(fs::exists(fs::path(cks) / ".tmp-step_00000030-1"));
}

TEST(Checkpoint, IncompleteOrCorruptCheckpointsNameTheFile) {
  TempDir dir;
  const std::string path = train::write_checkpoint(dir / "c", 1, {{"w", tensor({1}, {1})}},
                                                   {{"step", scalar(1, DType::i64)}}, state_at(1));
  fs::remove(path + "/optimizer.safetensors");
  try {
    train::read_checkpoint(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  path + ": not a complete checkpoint (optimizer.safetensors is missing)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(train::read_checkpoint(path, /*with_optimizer=*/false));

  write_file(path + "/state.json", "{\"step\": ");
  try {
    train::read_checkpoint(path, false);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + "/state.json"), std::string::npos) << e.what();
  }
  write_file(path + "/state.json", "{\"steps\": 3}");
  EXPECT_THROW(train::read_checkpoint(path, false), Error);

  write_file(path + "/state.json", "{\"step\": 1}");
  write_file(path + "/model.safetensors", "garbage");
  try {
    train::read_checkpoint(path, false);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + "/model.safetensors"), std::string::npos)
        << e.what();
  }
}

TEST(MetricsLog, LinesAreJsonAndResumeDropsLaterSteps) {
  TempDir dir;
  const std::string p = dir / "m.jsonl";
  {
    train::MetricsLog log(p, 0);
    for (int64_t s = 1; s <= 4; ++s) log.write({{"step", s}, {"loss", 1.5}, {"note", "a\"b"}});
    log.write({{"step", int64_t(5)}, {"val_loss", NAN}});
  }
  std::string text = read_file(p);
  EXPECT_NE(text.find("{\"step\": 1, \"loss\": 1.5, \"note\": \"a\\\"b\"}\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("{\"step\": 5, \"val_loss\": null}\n"), std::string::npos) << text;
  for (size_t pos = 0, end; (end = text.find('\n', pos)) != std::string::npos; pos = end + 1)
    EXPECT_NO_THROW(Config::from_json(text.substr(pos, end - pos), p));
  {
    train::MetricsLog log(p, 2);  // resumed at step 2
    log.write({{"step", int64_t(3)}, {"loss", 0.5}});
  }
  EXPECT_EQ(read_file(p),
            "{\"step\": 1, \"loss\": 1.5, \"note\": \"a\\\"b\"}\n{\"step\": 2, \"loss\": 1.5, "
            "\"note\": \"a\\\"b\"}\n"
            "{\"step\": 3, \"loss\": 0.5}\n");
  { train::MetricsLog log(p, 0); }  // a fresh run
  EXPECT_EQ(read_file(p), "");
}

TEST(Progress, Formatting) {
  EXPECT_EQ(train::format_duration(42.4), "42s");
  EXPECT_EQ(train::format_duration(192), "3m12s");
  EXPECT_EQ(train::format_duration(3840), "1h04m");
  EXPECT_EQ(train::format_count(812), "812");
  EXPECT_EQ(train::format_count(12345), "12.3k");
  EXPECT_EQ(train::format_count(4.56e6), "4.56M");
  train::ProgressInfo p;
  p.step = 120;
  p.total = 2000;
  p.loss = 2.45123;
  p.lr = 1e-3;
  p.grad_norm = 0.851;
  p.tokens_per_s = 12345;
  p.mfu = 0.412;
  p.eta_s = 192;
  EXPECT_EQ(train::format_progress(p),
            "step  120/2000 | loss 2.4512 | lr 1.00e-03 | gnorm 0.851 | 12.3k tok/s | MFU 41.2% | "
            "ETA 3m12s");
}

TEST(Progress, OneLinePerLogIntervalWhenNotATerminal) {
  TempDir dir;
  std::FILE* f = std::fopen((dir / "out").c_str(), "w");
  {
    train::ProgressLine line(f, /*interactive=*/false);
    line.update("a", false);
    line.update("b", true);
    line.print("eval");
    line.update("c", false);
  }
  std::fclose(f);
  EXPECT_EQ(read_file(dir / "out"), "b\neval\n");
}

TEST(Progress, RedrawsInPlaceOnATerminal) {
  TempDir dir;
  std::FILE* f = std::fopen((dir / "out").c_str(), "w");
  {
    train::ProgressLine line(f, /*interactive=*/true);
    line.update("a", true);
    line.print("eval");
    line.update("bb", true);
  }
  std::fclose(f);
  EXPECT_EQ(read_file(dir / "out"), "\ra\033[K\r\033[Keval\na\033[K\rbb\033[K\n");
}

class RunLoader : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { load_test_plugins(); }
};

TEST_F(RunLoader, LoadsTheLatestCheckpointsWeightsAndTheTokenizer) {
  TempDir dir;
  std::FILE* null = std::fopen("/dev/null", "w");
  train::TrainerOptions o;
  o.out = dir / "run";
  o.console = null;
  o.mfu = false;
  o.handle_signals = false;
  train::Trainer t(load(write_spec(dir, "steps = 6, checkpoint_every = 3")), o);
  t.run();
  std::fclose(null);

  train::LoadedRun run = train::load_run(dir / "run");
  EXPECT_EQ(run.step, 6);
  EXPECT_FALSE(run.model->is_training());
  EXPECT_EQ(run.tokenizer->vocab_size(), 256);
  auto a = run.model->state_dict(), b = t.model().state_dict();
  for (const auto& [name, tensor] : b)
    EXPECT_EQ(a.at(name).to_vector<float>(), tensor.to_vector<float>()) << name;

  train::LoadRunOptions at3;
  at3.step = 3;
  EXPECT_EQ(train::load_run(dir / "run", at3).step, 3);
  at3.step = 4;
  EXPECT_THROW(train::load_run(dir / "run", at3), Error);
  try {
    train::load_run(dir / "nothing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "nothing"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::testing
