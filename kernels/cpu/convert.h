// Element conversion between any two dtypes: floating to integer truncates (C semantics),
// anything to bool is "nonzero", and bf16/f16 go through f32 with round-to-nearest-even.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/tensor/half.h"

namespace kiln::cpu {

template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, bf16> || std::is_same_v<T, f16>;

template <class D, class S>
inline D cast_value(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (is_half_v<S>) {
    return cast_value<D>(float(v));
  } else if constexpr (is_half_v<D>) {
    return D(float(v));
  } else if constexpr (std::is_same_v<D, bool>) {
    return v != S(0);
  } else {
    return static_cast<D>(v);
  }
}

/// One strided run of a conversion (steps in bytes).
template <class D, class S>
inline void convert_run(char* dst, const char* src, int64_t n, int64_t dstep, int64_t sstep) {
  if (dstep == int64_t(sizeof(D)) && sstep == int64_t(sizeof(S))) {
    D* d = reinterpret_cast<D*>(dst);
    const S* s = reinterpret_cast<const S*>(src);
    for (int64_t i = 0; i < n; ++i) d[i] = cast_value<D>(s[i]);
  } else {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<D*>(dst + i * dstep) = cast_value<D>(*reinterpret_cast<const S*>(src + i * sstep));
  }
}

}  // namespace kiln::cpu
