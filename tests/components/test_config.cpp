// Config: typed access with located errors, unknown keys, JSON round trip.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "core/registry/config.h"

namespace kiln {
namespace {

Config sample() {
  Config c = Config::table();
  c.set("name", "gpt");
  c.set("layers", 4);
  c.set("lr", 3e-4);
  c.set("tied", true);
  Config l = Config::list({Config(1), Config(2.5), Config("x")});
  c.set("list", l);
  Config sub = Config::table();
  sub.set("theta", 10000.0);
  sub.set_component("layer", "rope");
  c.set("pos", sub);
  c.set_loc({"spec.lua", 3, ""});
  c.set_path("");
  return c;
}

TEST(Config, TypedGetters) {
  Config c = sample();
  EXPECT_EQ(c.get<std::string>("name"), "gpt");
  EXPECT_EQ(c.get<int>("layers"), 4);
  EXPECT_DOUBLE_EQ(c.get<double>("lr"), 3e-4);
  EXPECT_DOUBLE_EQ(c.get<double>("layers"), 4.0);  // integers read as numbers
  EXPECT_TRUE(c.get<bool>("tied"));
  EXPECT_EQ(c.get<int>("missing", 7), 7);
  EXPECT_EQ(c.at("list").size(), 3u);
  EXPECT_EQ(c.at("list")[2].as_string(), "x");
}

TEST(Config, TypeErrorsNameLocationAndPath) {
  Config c = sample();
  c.at("name").set_loc({"spec.lua", 14, ""});
  try {
    c.get<int>("name");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "spec.lua:14: name: expected integer, got \"gpt\"");
  }
  try {
    c.at("pos").get<double>("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pos: missing required key \"nope\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.at("list")[5], Error);
}

TEST(Config, UnreadKeysAreUnknownKeys) {
  Config c = Config::table();
  c.set("n_heads", 4);
  c.set("n_haeds", 8);
  c.set_path("model");
  c.get<int>("n_heads");
  ASSERT_EQ(c.unread_keys(), std::vector<std::string>{"n_haeds"});
  try {
    c.check_all_read();
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("model.n_haeds: unknown key \"n_haeds\" (did you mean \"n_heads\"?)"), std::string::npos) << m;
  }
}

TEST(Config, JsonRoundTripIsIdentical) {
  Config c = sample();
  std::string json = c.to_json();
  Config back = Config::from_json(json, "run.json");
  EXPECT_TRUE(back == c) << json << "\n---\n" << back.to_json();
  EXPECT_EQ(back.to_json(), json);
  EXPECT_TRUE(back.at("pos").is_component());
  EXPECT_EQ(back.at("pos").component_name(), "rope");
  EXPECT_EQ(back.at("lr").type(), Config::Type::number);
  EXPECT_EQ(back.at("layers").type(), Config::Type::integer);
  // JSON nodes know their pointer.
  EXPECT_EQ(back.at("pos").at("theta").loc().str(), "run.json#/pos/theta");
}

TEST(Config, WholeFloatsStayFloats) {
  Config c = Config::table();
  c.set("x", 2.0);
  Config back = Config::from_json(c.to_json(), "x.json");
  EXPECT_EQ(back.at("x").type(), Config::Type::number);
}

// Checkpoint states (an RL rollout's log-probs, the trainer's clock) and the run's spec.json
// hold doubles: each reads back to the same bits. RapidJSON's default parser misses about one
// in five of these by an ulp or more.
TEST(Config, DoublesReadBackBitForBit) {
  std::mt19937_64 g(1);
  std::uniform_real_distribution<double> u(-1, 1);
  Config list = Config::list();
  std::vector<double> want;
  for (int i = 0; i < 10000; ++i) {
    want.push_back(u(g) * std::pow(10.0, int(g() % 40) - 20));
    list.push_back(Config(want.back()));
  }
  Config c = Config::table();
  c.set("x", list);
  const Config back = Config::from_json(c.to_json(), "x.json");
  int differ = 0;
  for (size_t i = 0; i < want.size(); ++i)
    differ += std::bit_cast<uint64_t>(back.at("x")[i].as_number()) != std::bit_cast<uint64_t>(want[i]);
  EXPECT_EQ(differ, 0);
}

TEST(Config, BadJsonNamesFileAndLine) {
  try {
    Config::from_json("{\n  \"a\": 1,\n  \"b\": }\n", "run.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run.json:3: invalid JSON"), std::string::npos) << e.what();
  }
}

TEST(Config, DidYouMean) {
  EXPECT_EQ(did_you_mean("adamww", {"adamw", "sgd", "lion"}), "adamw");
  EXPECT_EQ(did_you_mean("zzzzzz", {"adamw", "sgd", "lion"}), "");
}

}  // namespace
}  // namespace kiln
