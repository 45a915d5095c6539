// Index family: joining, splitting, index_select, gather, scatter_add, embedding, one_hot and
// triangles. Values are checked against plain loops over the same inputs, gradients by finite
// differences, and the summing backwards for bitwise determinism across thread counts.
#include <gtest/gtest.h>

#include <string>

#include "tests/core/test_util.h"

namespace kiln {
namespace {

using namespace ops;
using testing::all_close;
using testing::randn64;

// Runs f, expects a kiln::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected a kiln::Error mentioning " << parts[0];
  } catch (const Error& e) {
    std::string m = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(m.find(p), std::string::npos) << "missing '" << p << "' in: " << m;
  }
}

Tensor ids(const std::vector<int64_t>& v, const Shape& shape = {}, DType dt = DType::i64) {
  return from_vector(v, shape.empty() ? Shape{int64_t(v.size())} : shape).to(dt);
}

// Row-major flat offset of coords in shape.
int64_t flat(const Shape& shape, const std::vector<int64_t>& c) {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + c[d];
  return off;
}

// Calls f(coords) for every coordinate of shape, row-major.
template <class F>
void for_each_coord(const Shape& shape, F&& f) {
  int64_t n = shape_numel(shape);
  std::vector<int64_t> c(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    f(c);
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      if (++c[size_t(d)] < shape[size_t(d)]) break;
      c[size_t(d)] = 0;
    }
  }
}

// ---- concat, stack, split, chunk ------------------------------------------------------------

TEST(Index, ConcatMatchesPlainLoop) {
  Tensor a = randn64({2, 3, 4}, 1), b = randn64({2, 1, 4}, 2), c = randn64({2, 2, 4}, 3);
  Tensor out = concat({a, b, c}, -2);
  ASSERT_EQ(out.shape(), Shape({2, 6, 4}));
  std::vector<double> o = out.to_vector<double>();
  const Tensor* parts[] = {&a, &a, &a, &b, &c, &c};
  const int64_t row_in_part[] = {0, 1, 2, 0, 0, 1};
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 6; ++j)
      for (int64_t k = 0; k < 4; ++k) {
        const Tensor& p = *parts[j];
        double want = p.to_vector<double>()[size_t(flat(p.shape(), {i, row_in_part[j], k}))];
        EXPECT_EQ(o[size_t(flat(out.shape(), {i, j, k}))], want);
      }
  // Integer tensors and a non-contiguous operand.
  Tensor x = arange(6).view({2, 3});
  EXPECT_EQ(concat({x, x.transpose(0, 1).contiguous().narrow(0, 0, 2)}, 1).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 1, 2, 0, 3, 3, 4, 5, 1, 4}));
  EXPECT_EQ(concat({x.transpose(0, 1), x.transpose(0, 1)}, 0).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 3, 1, 4, 2, 5, 0, 3, 1, 4, 2, 5}));
}

TEST(Index, ConcatGradcheckOnEveryDim) {
  for (int64_t dim : {0, 1, 2, -1}) {
    Tensor a = randn64({2, 3, 2}, 1).requires_grad_();
    Tensor b = randn64({2, 3, 2}, 2).requires_grad_();
    Tensor c = randn64({2, 3, 2}, 3);  // does not require grad
    auto f = [dim, c](const std::vector<Tensor>& in) {
      return concat({in[0], c, mul(in[1], in[1])}, dim);
    };
    EXPECT_GRADCHECK(f, {a, b}) << "dim " << dim;
  }
}

TEST(Index, StackMatchesSelectAndGradchecks) {
  Tensor a = randn64({2, 3}, 1), b = randn64({2, 3}, 2);
  for (int64_t dim : {0, 1, 2, -1}) {
    Tensor s = stack({a, b}, dim);
    int64_t d = dim < 0 ? dim + 3 : dim;
    EXPECT_EQ(s.size(d), 2);
    EXPECT_TRUE(all_close(s.select(d, 0), a, 0, 0));
    EXPECT_TRUE(all_close(s.select(d, 1), b, 0, 0));
    Tensor ga = a.clone().requires_grad_(), gb = b.clone().requires_grad_();
    auto f = [dim](const std::vector<Tensor>& in) {
      return stack({in[0], exp(in[1]), in[0]}, dim);
    };
    EXPECT_GRADCHECK(f, {ga, gb}) << "dim " << dim;
  }
}

TEST(Index, ConcatAndStackRefuseMismatches) {
  expect_error([] { concat({}, 0); }, {"concat", "at least one"});
  expect_error(
      [] {
        concat({zeros({2, 3}), zeros({3, 3})}, 1);
      },
      {"concat", "[3, 3]", "[2, 3]", "dim 1"});
  expect_error(
      [] {
        concat({zeros({2, 3}), zeros({2, 3}, DType::f64)}, 0);
      },
      {"concat", "f64", "f32"});
  expect_error([] { concat({zeros({2}), zeros({2, 1})}, 0); }, {"concat", "[2, 1]"});
  expect_error([] { stack({zeros({2, 3}), zeros({3, 2})}, 0); }, {"stack", "[3, 2]", "[2, 3]"});
  expect_error([] { concat({zeros({2})}, 3); }, {"concat"});
}

TEST(Index, SplitPiecesAreViews) {
  Tensor x = arange(0.0, 14.0, 1.0, DType::f64).view({7, 2});
  std::vector<Tensor> p = split(x, 3, 0);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].shape(), Shape({3, 2}));
  EXPECT_EQ(p[2].shape(), Shape({1, 2}));
  EXPECT_EQ(p[2].to_vector<double>(), (std::vector<double>{12, 13}));
  EXPECT_EQ(p[1].storage().get(), x.storage().get());  // a view, not a copy
  std::vector<Tensor> q = split(x, std::vector<int64_t>{1, 0, 6}, 0);
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[1].numel(), 0);
  EXPECT_EQ(q[2].to_vector<double>()[0], 2.0);
  std::vector<Tensor> cols = split(x, 1, -1);
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[1].to_vector<double>(), (std::vector<double>{1, 3, 5, 7, 9, 11, 13}));
  expect_error([&] { split(x, std::vector<int64_t>{3, 3}, 0); }, {"split", "6", "7"});
  expect_error([&] { split(x, 0, 0); }, {"split", "size"});
  expect_error([&] { split(x, std::vector<int64_t>{8, -1}, 0); }, {"split", ">= 0"});
}

TEST(Index, ChunkFollowsTorchChunk) {
  auto sizes = [](const std::vector<Tensor>& ps) {
    std::vector<int64_t> s;
    for (const Tensor& p : ps) s.push_back(p.size(0));
    return s;
  };
  // torch.chunk(arange(n), k): pieces of ceil(n / k), possibly fewer than k of them.
  EXPECT_EQ(sizes(chunk(arange(5), 4)), (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(sizes(chunk(arange(6), 4)), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(sizes(chunk(arange(6), 3)), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(sizes(chunk(arange(2), 5)), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(sizes(chunk(zeros({0}), 3)), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(chunk(arange(6).view({2, 3}), 2, 1)[1].to_vector<int64_t>(),
            (std::vector<int64_t>{2, 5}));
  expect_error([] { chunk(arange(6), 0); }, {"chunk", "0"});
}

TEST(Index, SplitAndChunkGradcheck) {
  Tensor x = randn64({6, 3}).requires_grad_();
  auto f = [](const std::vector<Tensor>& in) {
    std::vector<Tensor> p = split(in[0], std::vector<int64_t>{2, 4}, 0);
    std::vector<Tensor> c = chunk(p[1], 2, 0);
    return add(mul(p[0], c[0]), exp(c[1]));
  };
  EXPECT_GRADCHECK(f, {x});
}

// ---- index_select and embedding -------------------------------------------------------------

TEST(Index, IndexSelectMatchesPlainLoop) {
  Tensor x = randn64({3, 4, 5});
  for (DType it : {DType::i32, DType::i64})
    for (int64_t dim : {0, 1, 2}) {
      std::vector<int64_t> iv = {2, 0, 2, 1};
      Tensor out = index_select(x, dim, ids(iv, {}, it));
      Shape os = x.shape();
      os[size_t(dim)] = 4;
      ASSERT_EQ(out.shape(), os);
      std::vector<double> xv = x.to_vector<double>(), ov = out.to_vector<double>();
      for_each_coord(os, [&](const std::vector<int64_t>& c) {
        std::vector<int64_t> src = c;
        src[size_t(dim)] = iv[size_t(c[size_t(dim)])];
        EXPECT_EQ(ov[size_t(flat(os, c))], xv[size_t(flat(x.shape(), src))]);
      });
    }
  // A non-contiguous input and a 0-d index.
  Tensor t = x.transpose(0, 2);
  EXPECT_TRUE(all_close(index_select(t, 1, ids({3, 1}, {}, DType::i32)),
                        index_select(t.contiguous(), 1, ids({3, 1})), 0, 0));
  EXPECT_EQ(index_select(x, 1, scalar(2, DType::i64)).shape(), Shape({3, 1, 5}));
}

TEST(Index, IndexSelectGradcheckWithRepeats) {
  for (int64_t dim : {0, 1, -1}) {
    Tensor x = randn64({4, 3, 3}).requires_grad_();
    Tensor index = ids({2, 0, 2, 2, 1});
    auto f = [dim, index](const std::vector<Tensor>& in) {
      return index_select(in[0], dim, index);
    };
    EXPECT_GRADCHECK(f, {x}) << "dim " << dim;
  }
}

TEST(Index, EmbeddingMatchesRowsAndGradchecks) {
  Tensor w = randn64({6, 4});
  Tensor tok = ids({5, 0, 5, 3, 5, 0}, {2, 3}, DType::i32);
  Tensor out = embedding(w, tok);
  ASSERT_EQ(out.shape(), Shape({2, 3, 4}));
  std::vector<int64_t> tv = tok.to_vector<int64_t>();
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_TRUE(all_close(out.view({6, 4}).select(0, i), w.select(0, tv[size_t(i)]), 0, 0));
  // Repeated ids: their gradients must add up.
  Tensor wg = w.clone().requires_grad_();
  auto f = [tok](const std::vector<Tensor>& in) { return embedding(in[0], tok); };
  EXPECT_GRADCHECK(f, {wg});
  // By hand: row 5 appears three times, row 0 twice, rows 1, 2 and 4 never.
  Tensor w2 = w.clone().requires_grad_();
  sum(embedding(w2, tok)).backward();
  std::vector<double> g = w2.grad().to_vector<double>();
  for (int64_t c = 0; c < 4; ++c) {
    EXPECT_EQ(g[size_t(5 * 4 + c)], 3.0);
    EXPECT_EQ(g[size_t(0 * 4 + c)], 2.0);
    EXPECT_EQ(g[size_t(3 * 4 + c)], 1.0);
    EXPECT_EQ(g[size_t(1 * 4 + c)], 0.0);
  }
}

// Many repeats of few ids, large enough that the kernels run threaded.
Tensor embedding_grad(const Tensor& w, const Tensor& tok, const Tensor& gout, int threads) {
  ThreadCountGuard guard(threads);
  Tensor wg = w.clone().requires_grad_();
  embedding(wg, tok).backward(gout);
  return wg.grad();
}

TEST(Index, EmbeddingBackwardIsDeterministicAcrossThreads) {
  const int64_t V = 37, D = 300, N = 6000;
  Generator gen(7);
  Tensor w = randn({V, D}, DType::f32, &gen);
  Tensor tok = randint(0, V, {N}, DType::i64, &gen);
  Tensor gout = randn({N, D}, DType::f32, &gen);
  Tensor g1 = embedding_grad(w, tok, gout, 1);
  for (int t : {2, 3})
    EXPECT_TRUE(all_close(embedding_grad(w, tok, gout, t), g1, 0, 0)) << t << " threads";
  // And it is the sum a plain f64 loop gets, to f32 accuracy.
  std::vector<double> want(size_t(V * D), 0.0);
  std::vector<int64_t> tv = tok.to_vector<int64_t>();
  std::vector<double> gv = gout.to_vector<double>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < D; ++c) want[size_t(tv[size_t(n)] * D + c)] += gv[size_t(n * D + c)];
  EXPECT_TRUE(all_close(g1, from_vector(want, {V, D}), 1e-3, 1e-5));
}

TEST(Index, EmbeddingHalfGradientsAreSummedInF32) {
  // A bf16 weight's gradient is the f32 sum rounded once, not a bf16 running sum.
  const int64_t V = 5, D = 70, N = 400;
  Generator gen(3);
  Tensor tok = randint(0, V, {N}, DType::i32, &gen);
  Tensor gout = randn({N, D}, DType::bf16, &gen);
  Tensor w = randn({V, D}, DType::bf16, &gen);
  for (int t : {1, 3}) {
    Tensor gh = embedding_grad(w, tok, gout, t);
    Tensor gf = embedding_grad(w.to(DType::f32), tok, gout.to(DType::f32), t);
    EXPECT_EQ(gh.dtype(), DType::bf16);
    EXPECT_TRUE(all_close(gh, gf.to(DType::bf16), 0, 0));
  }
  EXPECT_TRUE(all_close(embedding(w, tok), index_select(w, 0, tok), 0, 0));
}

// ---- gather and scatter_add -----------------------------------------------------------------

TEST(Index, GatherMatchesPlainLoop) {
  Tensor x = randn64({3, 4, 5});
  Generator gen(5);
  for (int64_t dim : {0, 1, 2}) {
    // Index smaller than x off dim and longer along it.
    Shape is = {2, 3, 4};
    is[size_t(dim)] = 6;
    Tensor index = randint(0, x.size(dim), is, dim == 1 ? DType::i32 : DType::i64, &gen);
    Tensor out = gather(x, dim, index);
    ASSERT_EQ(out.shape(), is);
    std::vector<double> xv = x.to_vector<double>(), ov = out.to_vector<double>();
    std::vector<int64_t> iv = index.to_vector<int64_t>();
    for_each_coord(is, [&](const std::vector<int64_t>& c) {
      std::vector<int64_t> src = c;
      src[size_t(dim)] = iv[size_t(flat(is, c))];
      EXPECT_EQ(ov[size_t(flat(is, c))], xv[size_t(flat(x.shape(), src))]);
    });
    // Strided operands give the same answer.
    Tensor xt = x.transpose(0, 2).contiguous().transpose(0, 2);
    EXPECT_TRUE(
        all_close(gather(xt, dim, index.transpose(0, 1).contiguous().transpose(0, 1)), out, 0, 0));
  }
}

TEST(Index, GatherGradcheckOnEveryDim) {
  for (int64_t dim : {0, 1, -1}) {
    Tensor x = randn64({3, 4, 2}).requires_grad_();
    Shape is = {3, 4, 2};
    is[size_t(dim < 0 ? dim + 3 : dim)] = 5;
    Generator gen(uint64_t(11 + dim));
    Tensor index = randint(0, x.size(dim), is, DType::i64, &gen);
    auto f = [dim, index](const std::vector<Tensor>& in) { return gather(in[0], dim, index); };
    EXPECT_GRADCHECK(f, {x}) << "dim " << dim;
  }
}

TEST(Index, ScatterAddMatchesPlainLoop) {
  Generator gen(9);
  for (int64_t dim : {0, 1, 2}) {
    Tensor x = randn64({4, 5, 3}, 2);
    Shape is = {3, 4, 2};
    is[size_t(dim)] = 7;   // more entries than x has along dim: repeats are certain
    Shape ss = {3, 4, 3};  // src at least index's shape
    ss[size_t(dim)] = 7;
    // Same values as a contiguous tensor, but strided.
    Tensor src = randn64(ss, uint64_t(4 + dim)).transpose(0, 2).contiguous().transpose(0, 2);
    Tensor before = x.clone();
    Tensor index = randint(0, x.size(dim), is, DType::i64, &gen);
    Tensor out = scatter_add(x, dim, index, src);
    std::vector<double> want = x.to_vector<double>(), sv = src.to_vector<double>();
    std::vector<int64_t> iv = index.to_vector<int64_t>();
    for_each_coord(is, [&](const std::vector<int64_t>& c) {
      std::vector<int64_t> dst = c;
      dst[size_t(dim)] = iv[size_t(flat(is, c))];
      want[size_t(flat(x.shape(), dst))] += sv[size_t(flat(ss, c))];
    });
    EXPECT_TRUE(all_close(out, from_vector(want, x.shape()), 1e-12, 1e-12)) << "dim " << dim;
    EXPECT_TRUE(all_close(x, before, 0, 0));  // out of place
  }
}

TEST(Index, ScatterAddGradcheckInInputAndSource) {
  Generator gen(13);
  for (int64_t dim : {0, 1, -1}) {
    Tensor x = randn64({3, 4}, 1).requires_grad_();
    Shape is = {3, 4};
    is[size_t(dim < 0 ? dim + 2 : dim)] = 5;
    Tensor index = randint(0, x.size(dim), is, DType::i32, &gen);
    Shape ss = is;
    ss[0] += 1;  // src larger than index: its extra row gets a zero gradient
    Tensor src = randn64(ss, 2).requires_grad_();
    auto f = [dim, index](const std::vector<Tensor>& in) {
      return mul(scatter_add(in[0], dim, index, in[1]), in[0]);
    };
    EXPECT_GRADCHECK(f, {x, src}) << "dim " << dim;
  }
}

TEST(Index, ScatterAddIsDeterministicAcrossThreads) {
  Generator gen(21);
  Tensor x = zeros({16, 1000});
  Tensor index = randint(0, 16, {2000, 1000}, DType::i64, &gen);
  Tensor src = randn({2000, 1000}, DType::f32, &gen);
  Tensor ref;
  for (int t : {1, 2, 3}) {
    ThreadCountGuard guard(t);
    Tensor out = scatter_add(x, 0, index, src);
    if (t == 1)
      ref = out;
    else
      EXPECT_TRUE(all_close(out, ref, 0, 0)) << t << " threads";
  }
}

TEST(Index, OutOfRangeIndicesNameOpValueAndSize) {
  Tensor x = zeros({3, 5});
  expect_error(
      [&] {
        gather(x, 1, ids({0, 7}, {1, 2}));
      },
      {"gather", "index 7", "size 5", "dim 1"});
  expect_error([&] { gather(x, 0, ids({-1, 0}, {1, 2})); }, {"gather", "index -1", "size 3"});
  expect_error(
      [&] {
        index_select(x, 0, ids({1, 3}, {}, DType::i32));
      },
      {"index_select", "index 3", "size 3"});
  expect_error(
      [&] {
        scatter_add(x, 1, ids({5}, {1, 1}), ones({1, 1}));
      },
      {"scatter_add", "index 5", "size 5"});
  expect_error([&] { embedding(x, ids({2, 3, 9})); }, {"embedding", "id 3", "vocabulary of 3"});
  expect_error([&] { one_hot(ids({0, 4}), 4); }, {"one_hot", "id 4", "4 classes"});
  // Wrong index dtypes and shapes.
  expect_error([&] { gather(x, 0, zeros({1, 2})); }, {"gather", "i32 or i64", "f32"});
  expect_error([&] { embedding(x, ones({2}, DType::u8)); }, {"embedding", "u8"});
  expect_error([&] { gather(x, 0, ids({0, 0})); }, {"gather", "rank", "[2]", "[3, 5]"});
  expect_error(
      [&] {
        gather(x, 0, ids({0, 0, 0, 0, 0, 0}, {1, 6}));
      },
      {"gather", "[1, 6]", "dim 1"});
  expect_error([&] { index_select(x, 0, ids({0, 0}, {1, 2})); }, {"index_select", "1-d", "[1, 2]"});
  expect_error(
      [&] {
        scatter_add(x, 0, ids({0}, {1, 1}), ones({1, 1}, DType::f64));
      },
      {"scatter_add", "f64"});
  expect_error([&] { embedding(zeros({3}), ids({0})); }, {"embedding", "[vocab, dim]", "[3]"});
}

// ---- one_hot and triangles ------------------------------------------------------------------

TEST(Index, OneHotValues) {
  Tensor oh = one_hot(ids({2, 0, 1, 2}, {2, 2}, DType::i32), 3);
  EXPECT_EQ(oh.shape(), Shape({2, 2, 3}));
  EXPECT_EQ(oh.dtype(), DType::i64);
  EXPECT_EQ(oh.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(one_hot(ids({1}), 2, DType::f32).to_vector<float>(), (std::vector<float>{0, 1}));
  expect_error([] { one_hot(ids({0}), 0); }, {"one_hot", "num_classes"});
}

TEST(Index, TrilTriuMatchPlainLoops) {
  Tensor x = randn64({2, 3, 5});
  for (int64_t k : {-2, -1, 0, 1, 3, 6}) {
    std::vector<double> xv = x.to_vector<double>(), lo = tril(x, k).to_vector<double>(),
                        up = triu(x, k).to_vector<double>();
    std::vector<bool> lm = tril_mask(3, 5, k).to_vector<bool>(),
                      um = triu_mask(3, 5, k).to_vector<bool>();
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 5; ++j) {
          size_t p = size_t(flat(x.shape(), {b, i, j}));
          EXPECT_EQ(lo[p], j - i <= k ? xv[p] : 0.0) << "k " << k;
          EXPECT_EQ(up[p], j - i >= k ? xv[p] : 0.0) << "k " << k;
          EXPECT_EQ(lm[size_t(i * 5 + j)], j - i <= k);
          EXPECT_EQ(um[size_t(i * 5 + j)], j - i >= k);
        }
  }
  // The causal mask of 2 new queries against 4 keys: row i sees keys up to 2 + i.
  EXPECT_EQ(tril_mask(2, 4, 2).to_vector<bool>(), (std::vector<bool>{1, 1, 1, 0, 1, 1, 1, 1}));
  EXPECT_EQ(tril(arange(4).view({2, 2})).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 2, 3}));
  expect_error([] { tril(zeros({3})); }, {"tril", "2 dims", "[3]"});
  expect_error([] { triu_mask(-1, 2); }, {"triu_mask", "-1"});
}

TEST(Index, TrilTriuGradcheckWithOffsets) {
  for (int64_t k : {-1, 0, 2}) {
    Tensor x = randn64({2, 3, 4}).requires_grad_();
    auto lo = [k](const std::vector<Tensor>& in) { return tril(in[0], k); };
    auto up = [k](const std::vector<Tensor>& in) { return triu(mul(in[0], in[0]), k); };
    EXPECT_GRADCHECK(lo, {x}) << "k " << k;
    EXPECT_GRADCHECK(up, {x}) << "k " << k;
  }
}

TEST(Index, HalfAndIntegerDtypesGather) {
  Generator gen(4);
  Tensor x = randn({4, 6}, DType::f32, &gen);
  Tensor index = randint(0, 6, {4, 3}, DType::i64, &gen);
  for (DType dt : {DType::bf16, DType::f16, DType::i32})
    EXPECT_TRUE(all_close(gather(x.to(dt), 1, index), gather(x, 1, index).to(dt), 0, 0))
        << dtype_name(dt);
  // scatter_add into bf16 sums in f32 and rounds once.
  Tensor src = randn({4, 3}, DType::bf16, &gen);
  EXPECT_TRUE(all_close(scatter_add(zeros({4, 6}, DType::bf16), 1, index, src),
                        scatter_add(zeros({4, 6}), 1, index, src.to(DType::f32)).to(DType::bf16), 0,
                        0));
}

}  // namespace
}  // namespace kiln
