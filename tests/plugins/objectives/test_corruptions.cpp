// The corruptions as plain functions: statistics over 100k tokens (deterministic per seed: a
// seed fixes every draw, so these tests never flake) and the structure of each result.
// Expected rates are the published ones (BERT's 15% and 80/10/10, T5's density 0.15 and mean
// span 3, BART's Poisson(3)); tolerances are a few standard deviations of the estimate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "core/base/error.h"
#include "plugins/objectives/corrupt/denoise.h"
#include "plugins/objectives/corrupt/mlm.h"
#include "plugins/objectives/corrupt/pairs.h"
#include "plugins/objectives/corrupt/spans.h"

namespace kiln::objectives {
namespace {

constexpr int32_t kMask = 4;
constexpr int64_t kVocab = 1000;  // ids 0..4 special, 5..999 ordinary

std::vector<uint8_t> special_flags() {
  std::vector<uint8_t> s(kVocab, 0);
  for (int i = 0; i < 5; ++i) s[size_t(i)] = 1;
  return s;
}

std::vector<int32_t> ordinary_tokens(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = int32_t(5 + rng.below(kVocab - 5));
  return v;
}

TEST(Rng, IsDeterministicAndAdvancesTheGeneratorByOneBlock) {
  Generator g(7);
  Rng a(g);
  EXPECT_EQ(g.state().offset, 1u);
  Generator h(7);
  Rng b(h);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
  Rng c(g);  // the next block: another stream
  Generator other(8);
  EXPECT_NE(Rng(h).next_u64(), Rng(other).next_u64());
  // below() is uniform: 60k draws of [0, 6), each count within 5 sigma of 10k.
  std::vector<int64_t> counts(6, 0);
  for (int i = 0; i < 60000; ++i) ++counts[size_t(c.below(6))];
  for (int64_t k : counts) EXPECT_NEAR(double(k), 10000.0, 5 * std::sqrt(10000.0 * 5 / 6));
}

TEST(MlmCorruption, SelectsFifteenPercentSplitEightyTenTen) {
  const std::vector<uint8_t> special = special_flags();
  const MlmVocab vocab{kMask, kVocab, special};
  Rng rng(1234);
  int64_t tokens = 0, selected = 0, masked = 0, random = 0, kept = 0;
  for (int row = 0; row < 1000; ++row) {
    std::vector<int32_t> ids = ordinary_tokens(100, uint64_t(row) + 1);
    ids[0] = 2;  // [CLS] and [SEP] are never selected
    ids[99] = 3;
    std::vector<uint8_t> cand(100, 1);
    cand[0] = cand[99] = 0;
    const MlmResult r = mask_tokens(ids, cand, {}, MlmOptions{}, vocab, rng);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (cand[i]) ++tokens;
      switch (r.actions[i]) {
        case MlmAction::none:
          EXPECT_EQ(r.inputs[i], ids[i]);
          EXPECT_EQ(r.labels[i], -100);
          break;
        case MlmAction::mask:
          EXPECT_EQ(r.inputs[i], kMask);
          ++masked;
          break;
        case MlmAction::random:
          EXPECT_FALSE(special[size_t(r.inputs[i])]) << "a random replacement is special";
          ++random;
          break;
        case MlmAction::keep:
          EXPECT_EQ(r.inputs[i], ids[i]);
          ++kept;
          break;
      }
      if (r.actions[i] != MlmAction::none) {
        EXPECT_TRUE(cand[i]);
        EXPECT_EQ(r.labels[i], ids[i]);
        ++selected;
      }
    }
  }
  ASSERT_EQ(tokens, 98000);
  const double rate = double(selected) / double(tokens);
  std::printf("mlm: selected %.4f of %ld tokens; mask %.4f random %.4f keep %.4f\n", rate,
              long(tokens), double(masked) / double(selected), double(random) / double(selected),
              double(kept) / double(selected));
  EXPECT_NEAR(rate, 0.15, 0.01);
  EXPECT_NEAR(double(masked) / double(selected), 0.8, 0.01);
  EXPECT_NEAR(double(random) / double(selected), 0.1, 0.01);
  EXPECT_NEAR(double(kept) / double(selected), 0.1, 0.01);
}

TEST(MlmCorruption, WholeWordMaskingSelectsWholeWords) {
  const std::vector<uint8_t> special = special_flags();
  const MlmVocab vocab{kMask, kVocab, special};
  MlmOptions o;
  o.whole_word = true;
  Rng rng(99);
  Rng words(5);
  int64_t tokens = 0, selected = 0;
  for (int row = 0; row < 1000; ++row) {
    const std::vector<int32_t> ids = ordinary_tokens(100, uint64_t(row) + 17);
    std::vector<uint8_t> cand(100, 1), start(100, 0);
    for (size_t i = 0; i < 100; ++i) start[i] = i == 0 || words.bernoulli(0.4);  // ~2.5 a word
    const MlmResult r = mask_tokens(ids, cand, start, o, vocab, rng);
    for (size_t i = 0; i < 100; ++i) {
      ++tokens;
      selected += r.labels[i] != -100;
      // Within a word, all tokens are selected or none.
      if (i > 0 && !start[i]) {
        EXPECT_EQ(r.labels[i] != -100, r.labels[i - 1] != -100);
      }
    }
  }
  const double rate = double(selected) / double(tokens);
  std::printf("mlm whole words: selected %.4f of %ld tokens\n", rate, long(tokens));
  // Words are selected, so the token count varies more: 5 sigma is about 0.015.
  EXPECT_NEAR(rate, 0.15, 0.015);
}

TEST(MlmCorruption, RejectsBadInput) {
  const std::vector<uint8_t> special = special_flags();
  const MlmVocab vocab{kMask, kVocab, special};
  Rng rng(1);
  const std::vector<int32_t> ids{5, 6, 7};
  const std::vector<uint8_t> cand{1, 1};
  EXPECT_THROW(mask_tokens(ids, cand, {}, MlmOptions{}, vocab, rng), Error);
  MlmOptions o;
  o.mask = 0.95;
  EXPECT_THROW(mask_tokens(ids, std::vector<uint8_t>{1, 1, 1}, {}, o, vocab, rng), Error);
}

TEST(SentencePairs, LabelsAreBalancedAndPairsAreBuiltAsLabelled) {
  constexpr int32_t kCls = 2, kSep = 3;
  constexpr int64_t L = 16;
  for (PairTask task : {PairTask::nsp, PairTask::sop}) {
    Rng rng(task == PairTask::nsp ? 11 : 12);
    int64_t ones = 0;
    const int64_t n = 100000;
    // Rows of consecutive ids make order and origin visible: row r is 1000 r + 0, 1, 2, ...
    for (int64_t k = 0; k < n; ++k) {
      std::vector<int32_t> row(L), other(L);
      for (int64_t i = 0; i < L; ++i) {
        row[size_t(i)] = int32_t(1000 + i);
        other[size_t(i)] = int32_t(2000 + i);
      }
      const SentencePair p = make_sentence_pair(row, other, task, kCls, kSep, L, rng);
      ones += p.label;
      ASSERT_EQ(int64_t(p.tokens.size()), L);
      ASSERT_EQ(p.first_len + p.second_len, L - 3);
      ASSERT_GE(p.first_len, 1);
      ASSERT_GE(p.second_len, 1);
      const size_t a0 = 1, b0 = size_t(p.first_len) + 2;
      EXPECT_EQ(p.tokens[0], kCls);
      EXPECT_EQ(p.tokens[b0 - 1], kSep);
      EXPECT_EQ(p.tokens.back(), kSep);
      for (size_t i = 0; i < size_t(L); ++i) EXPECT_EQ(p.types[i], i < b0 ? 0 : 1);
      // Segments are runs of consecutive ids.
      for (size_t i = a0 + 1; i < b0 - 1; ++i) ASSERT_EQ(p.tokens[i], p.tokens[i - 1] + 1);
      for (size_t i = b0 + 1; i + 1 < size_t(L); ++i) ASSERT_EQ(p.tokens[i], p.tokens[i - 1] + 1);
      const int32_t a_first = p.tokens[a0], b_first = p.tokens[b0];
      if (task == PairTask::nsp) {
        EXPECT_EQ(a_first, 1000);
        if (p.label == 0)
          EXPECT_EQ(b_first, 1000 + p.first_len);  // B continues A
        else
          EXPECT_GE(b_first, 2000);  // B comes from the other row
      } else if (p.label == 0) {
        EXPECT_EQ(a_first, 1000);
        EXPECT_EQ(b_first, 1000 + p.first_len);
      } else {  // swapped: the second segment is the row's start
        EXPECT_EQ(b_first, 1000);
        EXPECT_EQ(a_first, 1000 + p.second_len);
      }
    }
    const double frac = double(ones) / double(n);
    std::printf("%s: %.4f of %ld pairs labelled 1\n", task == PairTask::nsp ? "nsp" : "sop", frac,
                long(n));
    EXPECT_NEAR(frac, 0.5, 0.01);
  }
}

TEST(SpanCorruption, CountsFollowT5) {
  // round(length * 0.15) noise tokens, round(noise / 3) spans, Python's round (half to even).
  EXPECT_EQ(span_counts(512, 0.15, 3).noise, 77);  // 76.8
  EXPECT_EQ(span_counts(512, 0.15, 3).spans, 26);  // 25.67
  EXPECT_EQ(span_counts(10, 0.15, 3).noise, 2);    // 1.5 -> 2 (half to even)
  EXPECT_EQ(span_counts(10, 0.15, 3).spans, 1);    // 0.67
  EXPECT_EQ(span_counts(30, 0.15, 3).noise, 4);    // 4.5 -> 4
  EXPECT_EQ(span_counts(2, 0.15, 3).noise, 1);     // at least one
  EXPECT_EQ(span_counts(2, 0.15, 3).spans, 1);
}

TEST(SpanCorruption, NoiseDensityAndMeanSpanLength) {
  Rng rng(2024);
  int64_t tokens = 0, noise = 0, spans = 0;
  std::map<int64_t, int64_t> start_hist;
  for (int row = 0; tokens < 100000; ++row) {
    const int64_t length = 64 + (row % 7) * 16;  // 64 .. 160
    const std::vector<uint8_t> m = random_spans_noise_mask(length, 0.15, 3.0, rng);
    ASSERT_EQ(int64_t(m.size()), length);
    EXPECT_EQ(m.front(), 0) << "T5's mask starts with a non-noise span";
    EXPECT_EQ(m.back(), 1) << "and ends with a noise span";
    const SpanCounts c = span_counts(length, 0.15, 3.0);
    int64_t n = 0, s = 0;
    for (int64_t i = 0; i < length; ++i) {
      n += m[size_t(i)];
      s += m[size_t(i)] && (i == 0 || !m[size_t(i - 1)]);
    }
    EXPECT_EQ(n, c.noise);
    EXPECT_EQ(s, c.spans);
    tokens += length;
    noise += n;
    spans += s;
  }
  const double density = double(noise) / double(tokens);
  const double mean_span = double(noise) / double(spans);
  std::printf("span corruption: density %.4f, mean span length %.3f over %ld tokens\n", density,
              mean_span, long(tokens));
  EXPECT_NEAR(density, 0.15, 0.01);
  EXPECT_NEAR(mean_span, 3.0, 0.1);
}

TEST(SpanCorruption, SpanLengthsAreARandomSegmentation) {
  // 100 tokens: 15 noise tokens in 5 spans, a uniformly random composition of 15 into 5
  // positive parts: C(14, 4) = 1001 of them, of which C(13, 3) = 286 give a chosen part the
  // length 1 (the other 14 tokens in 4 parts).
  Rng rng(3);
  int64_t spans = 0, ones = 0;
  for (int k = 0; k < 20000; ++k) {
    const std::vector<uint8_t> m = random_spans_noise_mask(100, 0.15, 3.0, rng);
    for (size_t i = 0; i < m.size(); ++i) {
      if (!m[i] || (i > 0 && m[i - 1])) continue;
      size_t j = i;
      while (j < m.size() && m[j]) ++j;
      ++spans;
      ones += j - i == 1;
    }
  }
  const double expected = 286.0 / 1001.0;
  const double p = double(ones) / double(spans);
  std::printf("span corruption: P(span length 1) %.4f, expected %.4f\n", p, expected);
  EXPECT_NEAR(p, expected, 5 * std::sqrt(expected * (1 - expected) / double(spans)));
}

TEST(SpanCorruption, SentinelsReplaceSpans) {
  // "a b c d e f g" with noise on c d and g (T5's docstring example, ids 10..16).
  const std::vector<int32_t> ids{10, 11, 12, 13, 14, 15, 16};
  const std::vector<uint8_t> noise{0, 0, 1, 1, 0, 0, 1};
  const std::vector<int32_t> sentinels{99, 98, 97};
  SpanCorruption c = corrupt_spans(ids, noise, sentinels, std::nullopt);
  EXPECT_EQ(c.inputs, (std::vector<int32_t>{10, 11, 99, 14, 15, 98}));
  EXPECT_EQ(c.targets, (std::vector<int32_t>{99, 12, 13, 98, 16}));
  c = corrupt_spans(ids, noise, sentinels, 1);
  EXPECT_EQ(c.inputs.back(), 1);
  EXPECT_EQ(c.targets.back(), 1);
  // More spans than sentinels.
  try {
    corrupt_spans(ids, std::vector<uint8_t>{0, 1, 0, 1, 0, 1, 0}, std::vector<int32_t>{99, 98},
                  std::nullopt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sentinels"), std::string::npos) << e.what();
  }
}

TEST(Denoising, PoissonSamplerMatchesPoissonThree) {
  // 100k draws: mean and variance 3, and a chi-square test over 0..9 and 10+ (10 degrees of
  // freedom: the 0.999 quantile is 29.6).
  Rng rng(77);
  const int n = 100000;
  std::vector<int64_t> counts(11, 0);
  double sum = 0, sq = 0;
  for (int i = 0; i < n; ++i) {
    const int64_t k = rng.poisson(3.0);
    ++counts[size_t(std::min<int64_t>(k, 10))];
    sum += double(k);
    sq += double(k) * double(k);
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  double chi2 = 0, p_rest = 1, p = std::exp(-3.0);
  for (int k = 0; k <= 10; ++k) {
    const double pk = k < 10 ? p : p_rest;
    const double e = pk * n;
    chi2 += (double(counts[size_t(k)]) - e) * (double(counts[size_t(k)]) - e) / e;
    p_rest -= p;
    p *= 3.0 / (k + 1);
  }
  std::printf("poisson(3): mean %.4f variance %.4f chi2 %.2f (10 dof)\n", mean, var, chi2);
  EXPECT_NEAR(mean, 3.0, 0.03);
  EXPECT_NEAR(var, 3.0, 0.1);
  EXPECT_LT(chi2, 29.6);
}

TEST(Denoising, TextInfillingMasksItsBudgetInPoissonSpans) {
  const std::vector<uint8_t> special = special_flags();
  const MlmVocab vocab{kMask, kVocab, special};
  InfillOptions o;  // 30%, lambda 3
  Rng rng(5);
  int64_t tokens = 0, removed = 0, masks = 0;
  double len_sum = 0, len_sq = 0;
  int64_t len_n = 0, zero = 0;
  while (tokens < 100000) {
    const std::vector<int32_t> ids = ordinary_tokens(1000, uint64_t(tokens) + 3);
    const std::vector<uint8_t> cand(ids.size(), 1), start(ids.size(), 1);
    const InfillResult r = text_infill(ids, cand, start, o, vocab, rng);
    EXPECT_EQ(r.budget, 300);
    EXPECT_EQ(std::accumulate(r.lengths.begin(), r.lengths.end(), int64_t(0)), r.budget);
    // Every drawn length but the last (cut to fit) is a Poisson(3) draw.
    for (size_t i = 0; i + 1 < r.lengths.size(); ++i) {
      len_sum += double(r.lengths[i]);
      len_sq += double(r.lengths[i]) * double(r.lengths[i]);
      ++len_n;
      zero += r.lengths[i] == 0;
    }
    int64_t m = 0;
    for (int32_t t : r.tokens) m += t == kMask;
    // One mask per drawn span, zero-length ones included (they insert one); every other
    // token is an original, in order.
    EXPECT_EQ(m, int64_t(r.lengths.size()));
    EXPECT_EQ(r.masked, r.budget);
    EXPECT_EQ(int64_t(r.tokens.size()), int64_t(ids.size()) - r.masked + m);
    tokens += int64_t(ids.size());
    removed += r.masked;
    masks += m;
  }
  const double mean = len_sum / double(len_n), var = len_sq / double(len_n) - mean * mean;
  std::printf(
      "text infilling: %.4f of %ld tokens masked, %ld mask tokens; span lengths mean "
      "%.3f variance %.3f, P(0) %.4f (Poisson(3): 3, 3, %.4f)\n",
      double(removed) / double(tokens), long(tokens), long(masks), mean, var,
      double(zero) / double(len_n), std::exp(-3.0));
  EXPECT_NEAR(double(removed) / double(tokens), 0.3, 1e-12);
  EXPECT_NEAR(mean, 3.0, 0.1);
  EXPECT_NEAR(var, 3.0, 0.2);
  EXPECT_NEAR(double(zero) / double(len_n), std::exp(-3.0), 0.01);
}

TEST(Denoising, InfillingStopsAtSpecialTokensAndCountsWords) {
  const std::vector<uint8_t> special = special_flags();
  const MlmVocab vocab{kMask, kVocab, special};
  InfillOptions o;
  o.ratio = 1.0;  // every word masked
  Rng rng(8);
  // Two words of three tokens, a [SEP], a word of two tokens.
  const std::vector<int32_t> ids{10, 11, 12, 20, 21, 22, 3, 30, 31};
  const std::vector<uint8_t> cand{1, 1, 1, 1, 1, 1, 0, 1, 1};
  const std::vector<uint8_t> start{1, 0, 0, 1, 0, 0, 1, 1, 0};
  for (int k = 0; k < 50; ++k) {
    const InfillResult r = text_infill(ids, cand, start, o, vocab, rng);
    EXPECT_EQ(r.budget, 3);
    // Every word is gone; [SEP] stays, with the masks around it.
    EXPECT_EQ(std::count(r.tokens.begin(), r.tokens.end(), 3), 1);
    for (int32_t t : r.tokens) EXPECT_TRUE(t == 3 || t == kMask) << t;
  }
}

TEST(Denoising, SentencePermutationAndTokenDeletion) {
  // Sentences end at 9: [1 2 9] [3 9 9] [4 5 6 9] [7].
  const std::vector<int32_t> ids{1, 2, 9, 3, 9, 9, 4, 5, 6, 9, 7};
  std::vector<uint8_t> end(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) end[i] = ids[i] == 9;
  const std::vector<std::vector<int32_t>> sentences{{1, 2, 9}, {3, 9, 9}, {4, 5, 6, 9}, {7}};
  Rng rng(4);
  int changed = 0;
  for (int k = 0; k < 200; ++k) {
    const std::vector<int32_t> p = permute_sentences(ids, end, 1.0, rng);
    ASSERT_EQ(p.size(), ids.size());
    // p is a concatenation of the four sentences in some order.
    std::vector<int32_t> rebuilt;
    std::vector<bool> used(4, false);
    size_t i = 0;
    while (i < p.size()) {
      bool found = false;
      for (size_t s = 0; s < 4 && !found; ++s)
        if (!used[s] &&
            std::equal(sentences[s].begin(), sentences[s].end(), p.begin() + ptrdiff_t(i),
                       p.begin() + ptrdiff_t(std::min(p.size(), i + sentences[s].size())))) {
          used[s] = true;
          i += sentences[s].size();
          found = true;
        }
      ASSERT_TRUE(found) << "not a permutation of whole sentences at " << i;
    }
    changed += p != ids;
  }
  // All 24 orders are equally likely: 23/24 differ from the original.
  EXPECT_GT(changed, 170);
  EXPECT_EQ(permute_sentences(ids, end, 0.0, rng), ids);

  const std::vector<int32_t> many = ordinary_tokens(100000, 9);
  std::vector<uint8_t> cand(many.size(), 1);
  const std::vector<int32_t> kept = delete_tokens(many, cand, 0.1, rng);
  const double rate = 1.0 - double(kept.size()) / double(many.size());
  std::printf("token deletion: %.4f of %zu tokens deleted\n", rate, many.size());
  EXPECT_NEAR(rate, 0.1, 0.01);
}

}  // namespace
}  // namespace kiln::objectives
