// train.init: a run starts from another run's (or a checkpoint's) weights, by name, or into the
// model a wrapper (scalar_head, value_head) holds under "model.", its head kept fresh.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/tensor/factory.h"
#include "core/train/checkpoint.h"
#include "core/train/init_weights.h"
#include "core/train/trainer.h"
#include "tests/train/train_test_util.h"

namespace kiln::testing {
namespace {

using train::Trainer;
using train::TrainerOptions;

class InitWeights : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { load_test_plugins(); }
  void SetUp() override { null_ = std::fopen("/dev/null", "w"); }
  void TearDown() override { std::fclose(null_); }
  TrainerOptions options(const std::string& out) {
    TrainerOptions o;
    o.out = out;
    o.console = null_;
    o.interactive = false;
    o.handle_signals = false;
    o.mfu = false;
    return o;
  }
  TempDir dir_;
  std::FILE* null_ = nullptr;
};

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

TEST_F(InitWeights, ARunStartsFromAnotherRunsLatestCheckpoint) {
  Trainer first(load(write_spec(dir_, "steps = 5")), options(dir_ / "first"));
  first.run();
  const nn::StateDict trained = first.model().state_dict();

  // Its run directory and its checkpoint's directory both name the same weights.
  const std::string checkpoint = train::latest_checkpoint(dir_ / "first/checkpoints")->path;
  for (const std::string& ref : {dir_ / "first", checkpoint}) {
    Trainer second(load(write_spec(dir_, "steps = 5, init = \"" + ref + "\"")),
                   options(dir_ / "second"));
    const nn::StateDict start = second.model().state_dict();
    ASSERT_EQ(start.size(), trained.size());
    for (const auto& [name, t] : trained) EXPECT_EQ(values(start.at(name)), values(t)) << name;
  }
}

TEST_F(InitWeights, WeightsOfAnotherShapeFailAtTheField) {
  Trainer first(load(write_spec(dir_, "steps = 2")), options(dir_ / "first"));
  first.run();
  const std::string spec = write_spec(dir_, "init = \"" + dir_ / "first" + "\"", "d_model = 16");
  try {
    Trainer t(load(spec), options(dir_ / "second"));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("train.init"), std::string::npos) << m;
    EXPECT_NE(m.find("spec.lua"), std::string::npos) << m;
    EXPECT_NE(m.find("do not fit the spec's model"), std::string::npos) << m;
    EXPECT_NE(m.find("shape"), std::string::npos) << m;
  }
  try {
    Trainer t(load(write_spec(dir_, "init = \"" + dir_ / "nowhere" + "\"")),
              options(dir_ / "third"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a directory"), std::string::npos) << e.what();
  }
}

// A module with two parameters, and a wrapper holding it as "model" with a head of its own.
class Inner : public nn::Module {
 public:
  Inner() {
    register_parameter("w", zeros({2, 3}));
    register_parameter("b", zeros({3}));
  }
};
class Wrapper : public nn::Module {
 public:
  Wrapper() {
    register_module("model", std::make_shared<Inner>());
    register_parameter("score", full({1, 3}, 7.0));
  }
};

TEST(InitWeightsInto, AWrapperTakesThemIntoItsModelAndKeepsItsHead) {
  nn::StateDict weights{{"w", full({2, 3}, 1.5)}, {"b", full({3}, -2.0)}};
  Wrapper wrapper;
  train::InitReport r = train::load_init_weights(wrapper, weights);
  EXPECT_EQ(r.loaded, 2);
  EXPECT_EQ(r.prefix, "model.");
  EXPECT_EQ(r.fresh, std::vector<std::string>{"score"});
  const nn::StateDict s = wrapper.state_dict();
  EXPECT_EQ(values(s.at("model.w")), std::vector<float>(6, 1.5f));
  EXPECT_EQ(values(s.at("model.b")), std::vector<float>(3, -2.0f));
  EXPECT_EQ(values(s.at("score")), std::vector<float>(3, 7.0f));

  // By name into the same kind of module: nothing fresh.
  Inner inner;
  r = train::load_init_weights(inner, weights);
  EXPECT_EQ(r.prefix, "");
  EXPECT_TRUE(r.fresh.empty());

  // A tensor the module lacks is an error, and nothing is loaded.
  weights.emplace("extra", zeros({1}));
  Inner untouched;
  EXPECT_THROW(train::load_init_weights(untouched, weights), Error);
  EXPECT_EQ(values(untouched.state_dict().at("w")), std::vector<float>(6, 0.0f));
}

}  // namespace
}  // namespace kiln::testing
