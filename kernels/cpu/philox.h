// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator. Element i of a random tensor depends only on (seed, counter), never
// on which thread computed it, so random tensors are the same for every thread count.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace kiln::cpu {

/// The full generator: a 128-bit counter and a 64-bit key, ten rounds.
inline std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(0xD2511F53u) * c[0];
    uint64_t p1 = uint64_t(0xCD9E8D57u) * c[2];
    c = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1), uint32_t(p0 >> 32) ^ c[3] ^ k[1], uint32_t(p0)};
    k[0] += 0x9E3779B9u;
    k[1] += 0xBB67AE85u;
  }
  return c;
}

/// kiln's use: the counter is a 64-bit block index, the key the 64-bit seed.
inline std::array<uint32_t, 4> philox4x32(uint64_t counter, uint64_t seed) {
  return philox4x32_10({uint32_t(counter), uint32_t(counter >> 32), 0, 0}, {uint32_t(seed), uint32_t(seed >> 32)});
}

/// Uniform in [0, 1) from the top 24 bits (exactly representable in f32).
inline float uniform_from_bits(uint32_t x) { return float(x >> 8) * 5.9604644775390625e-8f; }

/// Lane `lane` (0..3) of block `block`: the uniform for flat element index block*4+lane.
inline float philox_uniform(uint64_t seed, uint64_t block, int lane) {
  return uniform_from_bits(philox4x32(block, seed)[lane]);
}

}  // namespace kiln::cpu
