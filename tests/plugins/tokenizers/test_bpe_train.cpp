// Training byte-level BPE: a small case worked by hand, a plain reference trainer that
// recounts every pair at every merge, determinism, round trips over arbitrary bytes, special
// tokens, and save/load.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "core/base/error.h"
#include "core/base/threads.h"
#include "plugins/tokenizers/bpe_tokenizer.h"
#include "plugins/tokenizers/bpe_trainer.h"
#include "plugins/tokenizers/pretokenize.h"
#include "tests/plugins/tokenizers/tokenizer_test_util.h"

namespace kiln::tokenizers {
namespace {

using testing::exists;
using testing::shared_data;
using testing::slurp;

// The learned tokens after the 256 bytes, as strings.
std::vector<std::string> learned(const BpeTrainResult& r) {
  return {r.tokens.begin() + 256, r.tokens.end()};
}

TEST(BpeTraining, SmallCaseWorkedByHand) {
  // Pieces: "ab", " ab", " ab", " ac". Pair counts: (a,b) 3, (" ",a) 3, (a,c) 1. The tie goes to
  // the byte-wise smaller left token, " " < "a": " a" first. Then (" a",b) 2 makes " ab".
  // What is left occurs once: (a,b) in "ab" and (" a",c) in " ac".
  const std::vector<std::string_view> corpus = {"ab ab ab ac"};
  const BpeTrainResult two = train_bpe(corpus, 1000, 2, {});
  EXPECT_EQ(learned(two), (std::vector<std::string>{" a", " ab"}));
  ASSERT_EQ(two.merges.size(), 2u);
  EXPECT_EQ(two.merges[0], (BytePairEncoder::Merge{' ', 'a'}));
  EXPECT_EQ(two.merges[1], (BytePairEncoder::Merge{256, 'b'}));
  // With min_frequency 1 the two singletons follow, " a" < "a" first.
  EXPECT_EQ(learned(train_bpe(corpus, 1000, 1, {})),
            (std::vector<std::string>{" a", " ab", " ac", "ab"}));
  // The vocabulary size bounds the merges.
  EXPECT_EQ(learned(train_bpe(corpus, 257, 1, {})), (std::vector<std::string>{" a"}));
}

TEST(BpeTraining, OverlappingPairs) {
  // "aaaa" (once): (a,a) occurs 3 times, merged left to right into "aa aa"; then (aa,aa) once.
  const BpeTrainResult r = train_bpe({"aaaa"}, 1000, 1, {});
  EXPECT_EQ(learned(r), (std::vector<std::string>{"aa", "aaaa"}));
}

// The plain algorithm: count every pair of every word at each step.
BpeTrainResult reference_train(const std::vector<std::string_view>& corpus, size_t max_tokens,
                               int64_t min_freq) {
  std::map<std::string, int64_t> counts;
  for (auto doc : corpus)
    for (std::string_view p : gpt2_pretokenize(doc)) ++counts[std::string(p)];
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  for (const auto& [w, n] : counts) {
    std::vector<int32_t> syms;
    for (char c : w) syms.push_back(static_cast<unsigned char>(c));
    words.emplace_back(syms, n);
  }
  BpeTrainResult r;
  for (int b = 0; b < 256; ++b) r.tokens.push_back(std::string(1, char(b)));
  while (r.tokens.size() < max_tokens) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pairs;
    for (const auto& [syms, n] : words)
      for (size_t i = 0; i + 1 < syms.size(); ++i) pairs[{syms[i], syms[i + 1]}] += n;
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it) {
      auto key = [&](const auto& e) {
        return std::make_pair(r.tokens[size_t(e.first.first)], r.tokens[size_t(e.first.second)]);
      };
      if (it->second > best->second || (it->second == best->second && key(*it) < key(*best)))
        best = it;
    }
    if (best->second < min_freq) break;
    const auto [a, b] = best->first;
    const std::string bytes = r.tokens[size_t(a)] + r.tokens[size_t(b)];
    auto found = std::find(r.tokens.begin(), r.tokens.end(), bytes);
    const int32_t id = int32_t(found - r.tokens.begin());
    if (found == r.tokens.end()) r.tokens.push_back(bytes);
    r.merges.emplace_back(a, b);
    for (auto& [syms, n] : words) {
      std::vector<int32_t> out;
      for (size_t i = 0; i < syms.size();) {
        if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
          out.push_back(id);
          i += 2;
        } else {
          out.push_back(syms[i++]);
        }
      }
      syms = out;
    }
  }
  return r;
}

TEST(BpeTraining, MatchesThePlainReference) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 4; ++trial) {
    std::vector<std::string> docs;
    for (int d = 0; d < 12; ++d) docs.push_back(testing::random_text(rng, 150));
    std::vector<std::string_view> corpus(docs.begin(), docs.end());
    const int64_t min_freq = trial % 2 ? 1 : 2;
    const BpeTrainResult got = train_bpe(corpus, 256 + 150, min_freq, {});
    const BpeTrainResult want = reference_train(corpus, 256 + 150, min_freq);
    EXPECT_EQ(got.tokens, want.tokens) << "trial " << trial;
    EXPECT_EQ(got.merges, want.merges) << "trial " << trial;
  }
}

TEST(BpeTraining, DeterministicAcrossThreadsAndDocumentOrder) {
  std::mt19937 rng(2);
  std::vector<std::string> docs;
  for (int d = 0; d < 64; ++d) docs.push_back(testing::random_text(rng, 400));
  std::vector<std::string_view> corpus(docs.begin(), docs.end());
  BpeTrainResult one, two;
  {
    ThreadCountGuard g(1);
    one = train_bpe(corpus, 600, 2, {});
  }
  {
    ThreadCountGuard g(3);
    std::reverse(corpus.begin(), corpus.end());
    two = train_bpe(corpus, 600, 2, {});
  }
  EXPECT_EQ(one.tokens, two.tokens);
  EXPECT_EQ(one.merges, two.merges);
  EXPECT_GT(one.tokens.size(), 400u);
}

TEST(BpeTokenizer, RoundTripsArbitraryBytes) {
  std::mt19937 rng(4);
  std::vector<std::string> docs;
  for (int d = 0; d < 30; ++d) docs.push_back(testing::random_text(rng, 300));
  auto tok = BpeTokenizer::trainable(500, 2, {"<|endoftext|>"}, std::nullopt);
  EXPECT_TRUE(tok->needs_fit());
  tok->fit(std::vector<std::string_view>(docs.begin(), docs.end()));
  EXPECT_FALSE(tok->needs_fit());
  EXPECT_EQ(tok->vocab_size(), 500);
  EXPECT_EQ(tok->eos_id(), std::optional<int32_t>(499));
  for (int i = 0; i < 200; ++i) {
    const std::string s =
        i % 2 ? testing::random_bytes(rng, rng() % 300) : testing::random_text(rng, rng() % 100);
    const std::vector<int32_t> ids = tok->encode(s);
    EXPECT_EQ(tok->decode(ids), s);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < 499);
  }
  // Learned merges shorten the text they were learned on.
  EXPECT_LT(tok->encode(docs[0]).size(), docs[0].size() * 3 / 4);
}

TEST(BpeTokenizer, SpecialTokensAreNeverLearned) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "the cat<|endoftext|>sat<|endoftext|>";
  auto tok = BpeTokenizer::trainable(300, 2, {"<|endoftext|>"}, std::nullopt);
  tok->fit({text});
  for (int32_t id = 256; id < tok->vocab_size() - 1; ++id)
    EXPECT_EQ(tok->token_bytes(id).find('|'), std::string::npos)
        << "token " << id << " " << tok->token_bytes(id);
  const std::vector<int32_t> ids = tok->encode("cat<|endoftext|>", true);
  EXPECT_EQ(ids.back(), tok->vocab_size() - 1);
  EXPECT_EQ(tok->decode(ids), "cat<|endoftext|>");
}

TEST(BpeTokenizer, TrainingStopsWhenPairsRunOut) {
  auto tok = BpeTokenizer::trainable(5000, 2, {"<|endoftext|>"}, std::nullopt);
  tok->fit({"ab ab ab ac"});
  EXPECT_EQ(tok->vocab_size(), 256 + 2 + 1);
  try {
    BpeTokenizer::trainable(256, 2, {"<|endoftext|>"}, std::nullopt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab_size = 256 leaves no room"), std::string::npos)
        << e.what();
  }
  auto untrained = BpeTokenizer::trainable(300, 2, {}, std::nullopt);
  EXPECT_THROW(untrained->encode("a"), Error);
}

TEST(BpeTokenizer, SaveLoadRoundTripAndGpt2Format) {
  std::mt19937 rng(6);
  std::vector<std::string> docs;
  for (int d = 0; d < 20; ++d) docs.push_back(testing::random_text(rng, 300));
  auto tok = BpeTokenizer::trainable(500, 2, {"<|endoftext|>", "<pad>"}, std::nullopt);
  tok->fit(std::vector<std::string_view>(docs.begin(), docs.end()));
  testing::TempDir dir;
  tok->save(dir.str());
  auto restored = BpeTokenizer::trainable(300, 2, {}, std::nullopt);
  restored->load(dir.str());
  EXPECT_FALSE(restored->needs_fit());
  EXPECT_EQ(restored->vocab_size(), tok->vocab_size());
  EXPECT_EQ(restored->special_tokens(), tok->special_tokens());
  EXPECT_EQ(restored->eos_id(), tok->eos_id());
  // The same vocabulary read as GPT-2 files encodes alike.
  auto as_gpt2 = BpeTokenizer::gpt2(dir.str() + "/encoder.json", dir.str() + "/vocab.bpe",
                                    {"<|endoftext|>", "<pad>"}, std::nullopt);
  for (int i = 0; i < 50; ++i) {
    const std::string s = testing::random_text(rng, 60) + "<pad>" + testing::random_bytes(rng, 20);
    EXPECT_EQ(restored->encode(s, true), tok->encode(s, true));
    EXPECT_EQ(as_gpt2->encode(s, true), tok->encode(s, true));
  }
  // A gpt2 tokenizer does not load a trained one's directory.
  auto gpt2 = BpeTokenizer::gpt2("unused", "unused", {}, std::nullopt);
  EXPECT_THROW(gpt2->load(dir.str()), Error);
}

TEST(BpeTokenizer, TinyShakespeareTrainsDeterministically) {
  const std::string path = shared_data("tinyshakespeare/input.txt");
  if (!exists(path)) GTEST_SKIP() << path << " is absent (see shared/data/README.md)";
  const std::string text = slurp(path);
  BpeTrainResult a, b;
  {
    ThreadCountGuard g(1);
    a = train_bpe({text}, 1024, 2, {});
  }
  {
    ThreadCountGuard g(2);
    b = train_bpe({text}, 1024, 2, {});
  }
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.tokens.size(), 1024u);
}

}  // namespace
}  // namespace kiln::tokenizers
