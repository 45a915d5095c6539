// Sampling: random windows, packed rows, document masks, shuffling and the token stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "plugins/datasets/sampler.h"
#include "plugins/datasets/token_stream.h"
#include "tests/plugins/datasets/util.h"

namespace kiln::datasets {
namespace {

using testing::values;

// A split over tokens whose id is their position (so a window's ids give its offset).
struct Positions {
  std::vector<int32_t> ids;
  TokenStream stream;
  SplitTokens split;
  explicit Positions(int64_t n, std::vector<int64_t> starts = {0}) : ids(size_t(n)) {
    std::iota(ids.begin(), ids.end(), 0);
    stream.add(ids.data(), 4, n);
    split.stream = &stream;
    split.begin = 0;
    split.end = n;
    split.doc_starts = std::move(starts);
  }
};

TEST(Sampling, WindowStartsStayInRangeAndReachEveryOffset) {
  // nanoGPT draws randint(len(data) - block_size): offsets 0 .. n - T - 1.
  const int64_t n = 20, T = 15;
  std::set<int64_t> seen;
  for (uint64_t r = 0; r < 2000; ++r) {
    int64_t s = Sampler::window_start(7, 0, r, n, T);
    ASSERT_GE(s, 0);
    ASSERT_LT(s, n - T);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), size_t(n - T));
}

TEST(Sampling, WindowOffsetsAreRoughlyUniform) {
  const int64_t n = 110, T = 10, draws = 100000;
  std::vector<int64_t> count(size_t(n - T));
  for (int64_t r = 0; r < draws; ++r)
    ++count[size_t(Sampler::window_start(3, 0, uint64_t(r), n, T))];
  // 1000 expected per offset; 5 standard deviations is about 160.
  for (int64_t c : count) EXPECT_NEAR(double(c), 1000.0, 160.0);
}

TEST(Sampling, WindowTargetsAreInputsShiftedByOne) {
  Positions p(500);
  Sampler s(&p.split, {}, 1, 0, std::nullopt, false);
  data::Batch b = s.next(4, 16);
  ASSERT_EQ(b.inputs.shape(), (Shape{4, 16}));
  ASSERT_EQ(b.targets.shape(), (Shape{4, 16}));
  EXPECT_FALSE(b.segment_ids.defined());
  auto in = values(b.inputs), tg = values(b.targets);
  for (int64_t r = 0; r < 4; ++r) {
    int64_t start = Sampler::window_start(1, 0, uint64_t(r), 500, 16);
    for (int64_t t = 0; t < 16; ++t) {
      EXPECT_EQ(in[size_t(r * 16 + t)], start + t);
      EXPECT_EQ(tg[size_t(r * 16 + t)], start + t + 1);
    }
  }
}

TEST(Sampling, WindowsAreDeterministicBySeedAndDifferAcrossSeedsAndSplits) {
  Positions p(10000);
  auto draw = [&](uint64_t seed, uint32_t stream) {
    Sampler s(&p.split, {}, seed, stream, std::nullopt, false);
    std::vector<int64_t> all;
    for (int i = 0; i < 3; ++i) {
      auto v = values(s.next(8, 32).inputs);
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  EXPECT_EQ(draw(5, 0), draw(5, 0));
  EXPECT_NE(draw(5, 0), draw(6, 0));
  EXPECT_NE(draw(5, 0), draw(5, 1));
}

TEST(Sampling, WindowsDependOnRowsDrawnNotOnBatchShape) {
  // Two batches of 3 rows are the same rows as one batch of 6: resume is by rows drawn.
  Positions p(1000);
  Sampler a(&p.split, {}, 9, 0, std::nullopt, false), b(&p.split, {}, 9, 0, std::nullopt, false);
  auto a1 = values(a.next(3, 8).inputs), a2 = values(a.next(3, 8).inputs);
  a1.insert(a1.end(), a2.begin(), a2.end());
  EXPECT_EQ(a1, values(b.next(6, 8).inputs));
  EXPECT_EQ(a.state().rows, 6);
}

TEST(Sampling, ResumingFromStateRepeatsTheBatches) {
  for (auto mode : {SamplingOptions::Mode::random, SamplingOptions::Mode::packed}) {
    Positions p(3000, {0, 100, 250, 900, 1400, 2000, 2600});
    SamplingOptions o;
    o.mode = mode;
    o.document_mask = true;
    Sampler straight(&p.split, o, 11, 0, std::nullopt, true);
    std::vector<data::Batch> want;
    SamplerState saved;
    for (int i = 0; i < 12; ++i) {
      if (i == 5) saved = straight.state();
      want.push_back(straight.next(4, 64));
    }
    Sampler resumed(&p.split, o, 11, 0, std::nullopt, true);
    resumed.set_state(saved);
    for (int i = 5; i < 12; ++i) {
      data::Batch b = resumed.next(4, 64);
      EXPECT_EQ(values(b.inputs), values(want[size_t(i)].inputs)) << "batch " << i;
      EXPECT_EQ(values(b.targets), values(want[size_t(i)].targets)) << "batch " << i;
      EXPECT_EQ(values(b.segment_ids), values(want[size_t(i)].segment_ids)) << "batch " << i;
      EXPECT_EQ(values(b.positions), values(want[size_t(i)].positions)) << "batch " << i;
    }
  }
}

TEST(Sampling, PackedRowsReadTheDocumentsInOrderWithStrideT) {
  // Without shuffling, row k holds tokens [k T, k T + T + 1) of the split.
  Positions p(100, {0, 10, 35, 60});
  SamplingOptions o;
  o.mode = SamplingOptions::Mode::packed;
  Sampler s(&p.split, o, 0, 1, std::nullopt, false);
  auto in = values(s.next(5, 9).inputs);
  for (int64_t k = 0; k < 5; ++k)
    for (int64_t t = 0; t < 9; ++t) EXPECT_EQ(in[size_t(k * 9 + t)], k * 9 + t);
}

TEST(Sampling, PackedEpochDropsTheRemainderAndStartsOver) {
  // 50 tokens, T = 8: rows at 0, 8, ..., 40 (40 + 9 = 49 <= 50); the next starts epoch 1 at 0.
  Positions p(50);
  SamplingOptions o;
  o.mode = SamplingOptions::Mode::packed;
  Sampler s(&p.split, o, 0, 1, std::nullopt, false);
  auto in = values(s.next(7, 8).inputs);
  for (int64_t k = 0; k < 7; ++k) EXPECT_EQ(in[size_t(k * 8)], (k % 6) * 8) << "row " << k;
  EXPECT_EQ(s.state().epoch, 1);
  EXPECT_EQ(s.state().offset, 8);
}

TEST(Sampling, PackedSegmentIdsAndPositionsRestartAtEachDocument) {
  // Documents (each starting with EOS = 9): [9 1 2] [9 3 4 5 6] [9 7]; T = 6.
  std::vector<int32_t> ids = {9, 1, 2, 9, 3, 4, 5, 6, 9, 7};
  TokenStream stream;
  stream.add(ids.data(), 4, int64_t(ids.size()));
  SplitTokens split{&stream, 0, 10, {0, 3, 8}};
  SamplingOptions o;
  o.mode = SamplingOptions::Mode::packed;
  o.document_mask = true;
  Sampler s(&split, o, 0, 1, 9, false);
  data::Batch b = s.next(1, 6);
  EXPECT_EQ(values(b.inputs), (std::vector<int64_t>{9, 1, 2, 9, 3, 4}));
  // Targets that open a document are EOS, which is kept.
  EXPECT_EQ(values(b.targets), (std::vector<int64_t>{1, 2, 9, 3, 4, 5}));
  EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(values(b.positions), (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));
  // Row 2 starts at token 6 (stride T): the rest of document 1 is its own segment.
  b = s.next(1, 3);
  EXPECT_EQ(values(b.inputs), (std::vector<int64_t>{5, 6, 9}));
  EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(values(b.positions), (std::vector<int64_t>{0, 1, 0}));
}

TEST(Sampling, DocumentMaskIgnoresTargetsAcrossDocumentsWithoutEos) {
  // No end-of-text id: the first token of a document cannot be predicted from the one before.
  std::vector<int32_t> ids = {1, 2, 3, 4, 5, 6, 7};
  TokenStream stream;
  stream.add(ids.data(), 4, 7);
  SplitTokens split{&stream, 0, 7, {0, 2, 5}};
  SamplingOptions o;
  o.mode = SamplingOptions::Mode::packed;
  o.document_mask = true;
  Sampler s(&split, o, 0, 1, std::nullopt, false);
  data::Batch b = s.next(1, 6);
  EXPECT_EQ(values(b.targets), (std::vector<int64_t>{2, -100, 4, 5, -100, 7}));
  EXPECT_EQ(values(b.segment_ids), (std::vector<int64_t>{0, 0, 1, 1, 1, 2}));
}

TEST(Sampling, RandomWindowsCarryDocumentSegmentsToo) {
  Positions p(40, {0, 13, 27});
  SamplingOptions o;
  o.document_mask = true;
  Sampler s(&p.split, o, 4, 0, std::nullopt, false);
  for (int i = 0; i < 20; ++i) {
    data::Batch b = s.next(1, 12);
    auto in = values(b.inputs), seg = values(b.segment_ids), pos = values(b.positions);
    // A plain-loop reference from the document starts.
    auto doc = [&](int64_t x) { return x >= 27 ? 2 : x >= 13 ? 1 : 0; };
    for (int64_t t = 0; t < 12; ++t) {
      EXPECT_EQ(seg[size_t(t)], doc(in[size_t(t)]) - doc(in[0]));
      int64_t doc_start = std::max(in[0], doc(in[size_t(t)]) == 2   ? int64_t(27)
                                          : doc(in[size_t(t)]) == 1 ? 13
                                                                    : 0);
      EXPECT_EQ(pos[size_t(t)], in[size_t(t)] - doc_start);
    }
  }
}

TEST(Sampling, ShuffleIsAPermutationFixedBySeedAndEpoch) {
  auto a = Sampler::epoch_order(1, 0, 0, 1000, true);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(sorted, identity);
  EXPECT_NE(a, identity);
  EXPECT_EQ(a, Sampler::epoch_order(1, 0, 0, 1000, true));
  EXPECT_NE(a, Sampler::epoch_order(2, 0, 0, 1000, true));
  EXPECT_NE(a, Sampler::epoch_order(1, 0, 1, 1000, true));
  EXPECT_EQ(Sampler::epoch_order(1, 0, 0, 1000, false), identity);
}

TEST(Sampling, ShuffledEpochReadsEachDocumentOnce) {
  // Documents of distinct lengths; the rows of an epoch, laid end to end with stride T,
  // are the documents in the epoch's order.
  std::vector<int64_t> starts = {0};
  for (int64_t len = 3; starts.back() + len < 400; ++len) starts.push_back(starts.back() + len);
  Positions p(400, starts);
  SamplingOptions o;
  o.mode = SamplingOptions::Mode::packed;
  Sampler s(&p.split, o, 21, 0, std::nullopt, true);
  auto order = Sampler::epoch_order(21, 0, 0, int64_t(starts.size()), true);
  std::vector<int64_t> expected;
  for (int64_t d : order) {
    int64_t end = size_t(d) + 1 < starts.size() ? starts[size_t(d) + 1] : 400;
    for (int64_t x = starts[size_t(d)]; x < end; ++x) expected.push_back(x);
  }
  const int64_t T = 16, rows = (400 - 1) / T;
  auto in = values(s.next(rows, T).inputs);
  ASSERT_EQ(s.state().epoch, 0);
  for (int64_t i = 0; i < rows * T; ++i) EXPECT_EQ(in[size_t(i)], expected[size_t(i)]) << i;
}

TEST(Sampling, StreamReadsAcrossSegmentsOfBothWidths) {
  std::vector<uint16_t> a = {1, 2, 3};
  std::vector<int32_t> b = {70000, 70001};
  std::vector<uint16_t> c = {65535};
  TokenStream s;
  s.add(a.data(), 2, 3);
  s.add(b.data(), 4, 2);
  s.add(c.data(), 2, 1);
  ASSERT_EQ(s.size(), 6);
  std::vector<int32_t> out(5);
  s.read(1, 5, out.data());
  EXPECT_EQ(out, (std::vector<int32_t>{2, 3, 70000, 70001, 65535}));
  EXPECT_EQ(s.at(3), 70000);
  std::vector<int64_t> hits;
  s.for_each_equal(0, 6, 65535, [&](int64_t i) { hits.push_back(i); });
  EXPECT_EQ(hits, (std::vector<int64_t>{5}));
  EXPECT_THROW(s.read(4, 3, out.data()), Error);
}

}  // namespace
}  // namespace kiln::datasets
