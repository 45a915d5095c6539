// Random draws for the corruptions: a Philox4x32-10 stream, the generator kiln's random tensors
// use. A stream is keyed either by one block reserved from a kiln Generator (so that a
// corruption advances the generator by exactly one block however much it draws: a run's draws
// replay after a resume) or by a key of its own (static masking: a hash of the example).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "core/tensor/random.h"
#include "kernels/cpu/philox.h"

namespace kiln::objectives {

class Rng {
 public:
  explicit Rng(uint64_t key) : key_(key) {}
  /// Keyed by the next block of `gen` (its four words hashed into the key).
  explicit Rng(Generator& gen) {
    const RngState s = gen.reserve(1);
    const auto w = cpu::philox4x32(s.offset, s.seed);
    key_ = (uint64_t(w[0]) | uint64_t(w[1]) << 32) ^ (uint64_t(w[2]) << 17 | uint64_t(w[3]) << 47);
  }

  uint32_t next_u32() {
    if (used_ == 4) {
      buf_ = cpu::philox4x32(counter_++, key_);
      used_ = 0;
    }
    return buf_[used_++];
  }
  uint64_t next_u64() { return uint64_t(next_u32()) << 32 | next_u32(); }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }
  bool bernoulli(double p) { return uniform() < p; }
  /// Uniform in [0, n) without modulo bias (Lemire's method); n >= 1.
  int64_t below(int64_t n) {
    const uint64_t range = uint64_t(n);
    uint64_t x = next_u64();
    __uint128_t m = __uint128_t(x) * range;
    uint64_t low = uint64_t(m);
    if (low < range) {
      const uint64_t threshold = (0 - range) % range;
      while (low < threshold) {
        x = next_u64();
        m = __uint128_t(x) * range;
        low = uint64_t(m);
      }
    }
    return int64_t(m >> 64);
  }
  /// Poisson(lambda) by Knuth's product of uniforms: exact, and cheap for the small means
  /// (about 3) that span lengths use.
  int64_t poisson(double lambda) {
    const double limit = std::exp(-lambda);
    int64_t k = 0;
    double p = uniform();
    while (p > limit) {
      ++k;
      p *= uniform();
    }
    return k;
  }
  /// Fisher-Yates.
  template <class T>
  void shuffle(std::span<T> v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(below(int64_t(i)))]);
  }
  template <class T>
  void shuffle(std::vector<T>& v) {
    shuffle(std::span<T>(v));
  }
  /// k distinct values of [0, n), in random order (a partial Fisher-Yates).
  std::vector<int64_t> sample(int64_t n, int64_t k) {
    std::vector<int64_t> all(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) all[size_t(i)] = i;
    for (int64_t i = 0; i < k; ++i) std::swap(all[size_t(i)], all[size_t(i + below(n - i))]);
    all.resize(size_t(k));
    return all;
  }

 private:
  uint64_t key_ = 0;
  uint64_t counter_ = 0;
  std::array<uint32_t, 4> buf_{};
  int used_ = 4;
};

/// A key for an example's static corruption: the seed and the example's tokens, mixed
/// (splitmix64), so that the same text is corrupted the same way each time it is seen.
inline uint64_t example_key(uint64_t seed, std::span<const int32_t> tokens) {
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(seed ^ 0x6A09E667F3BCC909ull) ^ tokens.size();
  for (int32_t t : tokens) h = mix(h ^ uint32_t(t)) + 0x9E3779B97F4A7C15ull;
  return h;
}

}  // namespace kiln::objectives
