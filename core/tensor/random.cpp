#include "core/tensor/random.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/base/threads.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/philox.h"

namespace kiln {

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = {seed, 0};
}
RngState Generator::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}
void Generator::set_state(RngState s) {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = s;
}
RngState Generator::reserve(uint64_t blocks) {
  std::lock_guard<std::mutex> lock(mu_);
  RngState s = state_;
  state_.offset += blocks;
  return s;
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}

float uniform_at(const RngState& s, uint64_t i) {
  return cpu::philox_uniform(s.seed, s.offset + i / 4, int(i % 4));
}

namespace {

// Fills n elements; fn(block_words, first_index_in_block, out, count) writes values.
template <class F>
void fill_blocks(int64_t n, F&& fn) {
  const int64_t blocks = (n + 3) / 4;
  const int threads = blocks > 4096 ? num_threads() : 1;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) fn(b, std::min<int64_t>(4, n - b * 4));
}

Generator& pick(Generator* g) { return g ? *g : default_generator(); }

}  // namespace

Tensor rand(const Shape& shape, DType dtype, Generator* gen, double low, double high) {
  Tensor out = empty(shape, dtype);
  const int64_t n = out.numel();
  RngState s = pick(gen).reserve(uint64_t(n + 3) / 4);
  dispatch_floating(dtype, "rand", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = out.data<T>();
    fill_blocks(n, [&](int64_t b, int64_t cnt) {
      auto w = cpu::philox4x32(s.offset + uint64_t(b), s.seed);
      for (int64_t j = 0; j < cnt; ++j) {
        double u = cpu::uniform_from_bits(w[j]);
        p[b * 4 + j] = cpu::cast_value<T>(low + (high - low) * u);
      }
    });
  });
  return out;
}

Tensor randn(const Shape& shape, DType dtype, Generator* gen, double mean, double std) {
  Tensor out = empty(shape, dtype);
  const int64_t n = out.numel();
  RngState s = pick(gen).reserve(uint64_t(n + 3) / 4);
  dispatch_floating(dtype, "randn", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = out.data<T>();
    fill_blocks(n, [&](int64_t b, int64_t cnt) {
      auto w = cpu::philox4x32(s.offset + uint64_t(b), s.seed);
      double z[4];
      for (int pair = 0; pair < 2; ++pair) {
        // Box-Muller on (u1, u2) with u1 in (0, 1] so the log is finite.
        double u1 = (double(w[2 * pair] >> 8) + 1.0) * 5.9604644775390625e-8;
        double u2 = double(w[2 * pair + 1] >> 8) * 5.9604644775390625e-8;
        double r = std::sqrt(-2.0 * std::log(u1));
        z[2 * pair] = r * std::cos(2.0 * M_PI * u2);
        z[2 * pair + 1] = r * std::sin(2.0 * M_PI * u2);
      }
      for (int64_t j = 0; j < cnt; ++j) p[b * 4 + j] = cpu::cast_value<T>(mean + std * z[j]);
    });
  });
  return out;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype, Generator* gen) {
  KILN_CHECK(high > low, "randint: expected low < high, got [", low, ", ", high, ")");
  KILN_CHECK(dtype == DType::i64 || dtype == DType::i32, "randint: dtype must be i32 or i64, got ",
             dtype_name(dtype));
  Tensor out = empty(shape, dtype);
  const int64_t n = out.numel();
  RngState s = pick(gen).reserve(uint64_t(n + 1) / 2);
  const uint64_t range = uint64_t(high - low);
  // Two words per value give 64 random bits; the modulo bias is below 2^-32 for any range
  // under 2^32.
  auto value = [&](int64_t i) {
    auto w = cpu::philox4x32(s.offset + uint64_t(i / 2), s.seed);
    int lane = int(i % 2) * 2;
    uint64_t bits = (uint64_t(w[lane]) << 32) | w[lane + 1];
    return low + int64_t(bits % range);
  };
  if (dtype == DType::i64) {
    int64_t* p = out.data<int64_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = value(i);
  } else {
    int32_t* p = out.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = int32_t(value(i));
  }
  return out;
}

Tensor randperm(int64_t n, Generator* gen) {
  KILN_CHECK(n >= 0, "randperm: n must be >= 0, got ", n);
  RngState s = pick(gen).reserve(uint64_t(n + 1) / 2);
  std::vector<std::pair<uint64_t, int64_t>> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto w = cpu::philox4x32(s.offset + uint64_t(i / 2), s.seed);
    int lane = int(i % 2) * 2;
    keys[size_t(i)] = {(uint64_t(w[lane]) << 32) | w[lane + 1], i};
  }
  std::sort(keys.begin(), keys.end());
  Tensor out = empty({n}, DType::i64);
  int64_t* p = out.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = keys[size_t(i)].second;
  return out;
}

}  // namespace kiln
