// bf16 and f16 storage types with round-to-nearest-even conversions from f32.
//
// Header-only and dependency-free so that kernels can use it too. Arithmetic is never done in
// these types: kernels load to float, compute, and store back.
#pragma once

#include <cstdint>
#include <cstring>

namespace kiln {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// bfloat16: the top 16 bits of an IEEE f32.
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  explicit bf16(float f) : bits(from_float(f)) {}
  explicit operator float() const { return bits_float(uint32_t(bits) << 16); }

  // Round to nearest, ties to even: add 0x7fff plus the lowest kept bit, then truncate.
  // NaN is kept quiet (a NaN whose payload sits only in the low bits would round to inf).
  static uint16_t from_float(float f) {
    uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
  }
};

/// IEEE binary16.
struct f16 {
  uint16_t bits = 0;
  f16() = default;
  explicit f16(float f) : bits(from_float(f)) {}
  explicit operator float() const { return to_float(bits); }

  static float to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (man << 13));  // inf / nan
    if (exp == 0) {
      if (man == 0) return bits_float(sign);
      // Subnormal: value = man * 2^-24, exact in f32.
      float v = float(man) * 5.9604644775390625e-8f;
      return sign ? -v : v;
    }
    return bits_float(sign | ((exp + 112) << 23) | (man << 13));
  }

  // Round to nearest even, with overflow to inf and gradual underflow to subnormals.
  static uint16_t from_float(float f) {
    uint32_t u = float_bits(f);
    uint16_t sign = uint16_t((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // nan
    if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // >= 65520 rounds to inf
    if (a < 0x38800000u) {
      // Below the smallest normal (2^-14): scale into the subnormal grid, where one unit is
      // 2^-24, and let the FPU round to nearest even via the magic-number addition.
      float v = bits_float(a) + 0.5f;  // 0.5 = 2^-1: units of 2^-24 land in the low mantissa
      return uint16_t(sign | uint16_t(float_bits(v) - float_bits(0.5f)));
    }
    uint32_t mant_odd = (a >> 13) & 1u;
    a += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
    return uint16_t(sign | uint16_t(a >> 13));
  }
};

template <class T>
inline float to_f32(T v) {
  return float(v);
}
template <class T>
inline T from_f32(float v) {
  return T(v);
}

}  // namespace kiln
