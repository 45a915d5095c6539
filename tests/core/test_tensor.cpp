// Tensor basics: construction, views, broadcasting, conversions, printing, randomness.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/core/test_util.h"

namespace kiln {
namespace {

using testing::all_close;

TEST(Tensor, FactoriesFillValues) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.shape(), Shape({2, 3}));
  EXPECT_EQ(z.dtype(), DType::f32);
  for (float v : z.to_vector<float>()) EXPECT_EQ(v, 0.0f);
  for (double v : full({4}, 2.5, DType::f64).to_vector<double>()) EXPECT_EQ(v, 2.5);
  EXPECT_EQ(arange(5).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1.0, 2.0, 0.25, DType::f32).to_vector<float>(), (std::vector<float>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(arange(3.0, 0.0, -1.0).to_vector<int64_t>(), (std::vector<int64_t>{3, 2, 1}));
  EXPECT_EQ(scalar(7.0).dim(), 0);
  EXPECT_EQ(scalar(7.0).item(), 7.0);
}

TEST(Tensor, ReshapeAndViewShareStorage) {
  Tensor a = arange(0.0, 12.0, 1.0, DType::f32);
  Tensor b = a.view({3, 4});
  EXPECT_EQ(b.storage().get(), a.storage().get());
  EXPECT_EQ(b.shape(), Shape({3, 4}));
  EXPECT_EQ(a.view({2, -1}).shape(), Shape({2, 6}));
  EXPECT_THROW(a.view({5, -1}), Error);
  // A transposed tensor cannot be viewed flat, but reshape copies.
  Tensor t = b.transpose(0, 1);
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_THROW(t.view({12}), Error);
  Tensor r = t.reshape({12});
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
}

TEST(Tensor, PermuteTransposeStrides) {
  Tensor a = arange(0.0, 24.0, 1.0, DType::f32).view({2, 3, 4});
  Tensor p = a.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), Shape({4, 2, 3}));
  EXPECT_EQ(p.strides(), Strides({1, 12, 4}));
  EXPECT_EQ(p.contiguous().to_vector<float>()[1], 4.0f);  // p[0,0,1] = a[0,1,0]
  EXPECT_EQ(a.transpose(-1, 0).shape(), Shape({4, 3, 2}));
  EXPECT_THROW(a.permute({0, 0, 1}), Error);
  EXPECT_THROW(a.permute({0, 1}), Error);
}

TEST(Tensor, SliceNarrowSelect) {
  Tensor a = arange(0.0, 20.0, 1.0, DType::f32).view({4, 5});
  Tensor s = a.slice(1, 1, 5, 2);  // columns 1, 3
  EXPECT_EQ(s.shape(), Shape({4, 2}));
  EXPECT_EQ(s.contiguous().to_vector<float>(), (std::vector<float>{1, 3, 6, 8, 11, 13, 16, 18}));
  EXPECT_EQ(a.narrow(0, 2, 2).contiguous().to_vector<float>()[0], 10.0f);
  EXPECT_EQ(a.select(1, -1).to_vector<float>(), (std::vector<float>{4, 9, 14, 19}));
  EXPECT_EQ(a.slice(0, -2, 4).shape(), Shape({2, 5}));
  EXPECT_THROW(a.narrow(0, 3, 2), Error);
  EXPECT_THROW(a.select(0, 4), Error);
}

TEST(Tensor, ExpandSqueezeUnsqueeze) {
  Tensor a = arange(0.0, 3.0, 1.0, DType::f32).view({3, 1});
  Tensor e = a.expand({2, 3, 4});
  EXPECT_EQ(e.shape(), Shape({2, 3, 4}));
  EXPECT_EQ(e.strides(), Strides({0, 1, 0}));
  EXPECT_EQ(e.contiguous().to_vector<float>()[5], 1.0f);  // e[0,1,1]
  EXPECT_THROW(a.expand({3, 2, 2}), Error);
  EXPECT_EQ(a.squeeze().shape(), Shape({3}));
  EXPECT_EQ(a.squeeze(1).shape(), Shape({3}));
  EXPECT_EQ(a.squeeze(0).shape(), Shape({3, 1}));
  EXPECT_EQ(a.unsqueeze(0).shape(), Shape({1, 3, 1}));
  EXPECT_EQ(a.unsqueeze(-1).shape(), Shape({3, 1, 1}));
  EXPECT_EQ(a.flatten().shape(), Shape({3}));
}

TEST(Tensor, ZeroDimViewsAndSizes) {
  // A scalar has no sizes to read (this used to index past an empty shape), but dim 0/-1
  // views that need none are identities.
  Tensor s = scalar(2.0);
  EXPECT_THROW(s.size(0), Error);
  EXPECT_THROW(s.stride(-1), Error);
  EXPECT_THROW(s.narrow(0, 0, 1), Error);
  EXPECT_EQ(s.transpose(0, -1).item(), 2.0);
  EXPECT_EQ(s.squeeze(0).shape(), Shape{});
  EXPECT_EQ(s.unsqueeze(0).shape(), Shape({1}));
  EXPECT_THROW(s.transpose(0, 1), Error);
}

TEST(Tensor, CloneIsIndependent) {
  Tensor a = ones({3});
  Tensor b = a.clone();
  b.fill_(5);
  EXPECT_EQ(a.to_vector<float>()[0], 1.0f);
  EXPECT_EQ(b.to_vector<float>()[0], 5.0f);
}

TEST(Tensor, CopyBroadcastsAndConverts) {
  Tensor dst = zeros({2, 3}, DType::f64);
  dst.copy_(tensor({1, 2, 3}, {3}, DType::i32));
  EXPECT_EQ(dst.to_vector<double>(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
}

TEST(Tensor, IntegerAndBoolConversions) {
  Tensor f = tensor({-1.7, -0.2, 0.0, 0.6, 2.9});
  EXPECT_EQ(f.to(DType::i64).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 0, 0, 2}));
  EXPECT_EQ(f.to(DType::boolean).to_vector<bool>(), (std::vector<bool>{true, true, false, true, true}));
  EXPECT_EQ(tensor({1, 0, 1}, {}, DType::boolean).to(DType::f32).to_vector<float>(), (std::vector<float>{1, 0, 1}));
}

TEST(Tensor, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 lies exactly between bf16 neighbours 1 and 1 + 2^-7: ties go to the even one (1).
  EXPECT_EQ(bf16(1.0f + std::ldexp(1.0f, -8)).bits, bf16(1.0f).bits);
  // 1 + 3 * 2^-8 lies between 1 + 2^-7 (odd mantissa) and 1 + 2^-6: ties to even goes up.
  EXPECT_EQ(float(bf16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
  // Just above the halfway point rounds up.
  EXPECT_EQ(float(bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20))), 1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(bf16(1.0f).bits, 0x3f80);
  EXPECT_TRUE(std::isnan(float(bf16(std::nanf("")))));
  EXPECT_TRUE(std::isinf(float(bf16(INFINITY))));
  // 3.4e38 is near f32 max; rounding past the largest finite bf16 gives inf.
  EXPECT_TRUE(std::isinf(float(bf16(3.4028235e38f))));
}

TEST(Tensor, F16RoundsToNearestEven) {
  EXPECT_EQ(f16(1.0f).bits, 0x3c00);
  EXPECT_EQ(f16(65504.0f).bits, 0x7bff);  // largest finite
  EXPECT_EQ(f16(65520.0f).bits, 0x7c00);  // halfway to the next power rounds to inf
  EXPECT_EQ(f16(65519.0f).bits, 0x7bff);
  // Ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(f16(1.0f + std::ldexp(1.0f, -11)).bits, 0x3c00);
  EXPECT_EQ(f16(1.0f + 3 * std::ldexp(1.0f, -11)).bits, 0x3c02);
  // Subnormals: the smallest is 2^-24; half of it rounds to even (zero), 1.5x rounds up to 2.
  EXPECT_EQ(f16(std::ldexp(1.0f, -24)).bits, 0x0001);
  EXPECT_EQ(f16(std::ldexp(1.0f, -25)).bits, 0x0000);
  EXPECT_EQ(f16(1.5f * std::ldexp(1.0f, -24)).bits, 0x0002);
  EXPECT_EQ(f16(-2.0f).bits, 0xc000);
  for (uint32_t h = 0; h < 0x7c00; ++h) {  // every finite f16 survives a round trip through f32
    f16 x;
    x.bits = uint16_t(h);
    ASSERT_EQ(f16(float(x)).bits, h);
  }
}

TEST(Tensor, DtypeConversionTensorLevel) {
  Tensor a = tensor({1.0, 1.0 + std::ldexp(1.0, -8), 3.0});
  EXPECT_EQ(a.to(DType::bf16).to(DType::f32).to_vector<float>(), (std::vector<float>{1, 1, 3}));
  EXPECT_EQ(a.to(DType::f16).to(DType::f64).to_vector<double>()[1], 1.00390625);
}

TEST(Tensor, PrintIsReadable) {
  std::string s = arange(0.0, 4.0, 1.0, DType::f32).view({2, 2}).str();
  EXPECT_NE(s.find("[[0.0000, 1.0000],"), std::string::npos) << s;
  EXPECT_NE(s.find("dtype=f32"), std::string::npos) << s;
  std::string big = zeros({2000}).str();
  EXPECT_NE(big.find("..."), std::string::npos);
  EXPECT_LT(big.size(), 200u);
  EXPECT_NE(arange(3).str().find("[0, 1, 2]"), std::string::npos);
}

TEST(Tensor, UndefinedTensorThrows) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.shape(), Error);
}

TEST(Tensor, ItemNeedsOneElement) {
  EXPECT_THROW(zeros({2}).item(), Error);
  EXPECT_EQ(full({1, 1}, 3.0).item(), 3.0);
}

TEST(Tensor, DataTypeChecked) {
  Tensor a = zeros({2});
  EXPECT_NO_THROW(a.data<float>());
  EXPECT_THROW(a.data<double>(), Error);
}

TEST(Tensor, AllocatorTracksPeak) {
  reset_peak_memory();
  size_t before = memory_stats().in_use;
  {
    Tensor big = empty({1 << 20});
    EXPECT_GE(memory_stats().in_use, before + (4u << 20));
  }
  EXPECT_EQ(memory_stats().in_use, before);
  EXPECT_GE(memory_stats().peak, before + (4u << 20));
}

TEST(Random, PhiloxMatchesRandom123KnownAnswers) {
  // Known-answer vectors from the Random123 distribution (kat_vectors, philox4x32 10).
  auto r = cpu::philox4x32_10({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(r, (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  r = cpu::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff});
  EXPECT_EQ(r, (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  r = cpu::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0});
  EXPECT_EQ(r, (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Random, SameSeedSameNumbersAnyThreadCount) {
  std::vector<float> ref;
  for (int threads : {1, 2, 3}) {
    ThreadCountGuard guard(threads);
    Generator g(42);
    std::vector<float> v = randn({100003}, DType::f32, &g).to_vector<float>();
    if (ref.empty()) ref = v;
    else EXPECT_EQ(v, ref) << "threads=" << threads;
  }
}

TEST(Random, GeneratorAdvancesAndReplays) {
  Generator g(7);
  RngState s = g.state();
  Tensor a = rand({10}, DType::f32, &g);
  Tensor b = rand({10}, DType::f32, &g);
  EXPECT_NE(a.to_vector<float>(), b.to_vector<float>());
  g.set_state(s);
  EXPECT_EQ(rand({10}, DType::f32, &g).to_vector<float>(), a.to_vector<float>());
}

TEST(Random, MomentsLookRight) {
  Generator g(3);
  std::vector<double> n = randn({200000}, DType::f64, &g).to_vector<double>();
  double m = 0, v = 0;
  for (double x : n) m += x;
  m /= double(n.size());
  for (double x : n) v += (x - m) * (x - m);
  v /= double(n.size());
  EXPECT_NEAR(m, 0.0, 0.01);
  EXPECT_NEAR(v, 1.0, 0.01);
  std::vector<float> u = rand({100000}, DType::f32, &g, 2.0, 4.0).to_vector<float>();
  double mu = 0;
  for (float x : u) {
    ASSERT_GE(x, 2.0f);
    ASSERT_LT(x, 4.0f);
    mu += x;
  }
  EXPECT_NEAR(mu / double(u.size()), 3.0, 0.01);
}

TEST(Random, RandpermIsAPermutation) {
  Generator g(1);
  std::vector<int64_t> p = randperm(1000, &g).to_vector<int64_t>();
  std::vector<bool> seen(1000, false);
  for (int64_t x : p) {
    ASSERT_GE(x, 0);
    ASSERT_LT(x, 1000);
    ASSERT_FALSE(seen[size_t(x)]);
    seen[size_t(x)] = true;
  }
  std::vector<int64_t> r = randint(5, 9, {1000}, DType::i64, &g).to_vector<int64_t>();
  for (int64_t x : r) {
    ASSERT_GE(x, 5);
    ASSERT_LT(x, 9);
  }
}

}  // namespace
}  // namespace kiln
