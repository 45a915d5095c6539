// Element types and their compile-time mapping to C++ types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/tensor/half.h"

namespace kiln {

enum class DType : uint8_t { f64, f32, bf16, f16, i32, i64, u8, boolean };
inline constexpr int kNumDTypes = 8;

size_t itemsize(DType t);
/// Short name used in messages and files: "f64", "f32", "bf16", "f16", "i32", "i64", "u8", "bool".
const char* dtype_name(DType t);
/// Inverse of dtype_name; throws on an unknown name, listing the known ones.
DType dtype_from_name(std::string_view name);
inline constexpr bool is_floating(DType t) { return t == DType::f64 || t == DType::f32 || t == DType::bf16 || t == DType::f16; }
inline constexpr bool is_integral(DType t) { return !is_floating(t); }

template <class T> struct dtype_of;
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<bf16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<f16> { static constexpr DType value = DType::f16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::boolean; };
template <class T> inline constexpr DType dtype_v = dtype_of<T>::value;

/// The type arithmetic is done in: double for f64, float for every other floating type.
template <class T> struct acc_of { using type = float; };
template <> struct acc_of<double> { using type = double; };
template <> struct acc_of<int32_t> { using type = int64_t; };
template <> struct acc_of<int64_t> { using type = int64_t; };
template <> struct acc_of<uint8_t> { using type = int64_t; };
template <> struct acc_of<bool> { using type = int64_t; };
template <class T> using acc_t = typename acc_of<T>::type;

template <class T> struct TypeTag { using type = T; };

/// Calls f(TypeTag<T>{}) for the C++ type of a floating dtype; throws for other dtypes, naming
/// `what` (the op) so the user sees which op refused which dtype.
template <class F>
decltype(auto) dispatch_floating(DType t, const char* what, F&& f);
/// Calls f(TypeTag<T>{}) for any dtype.
template <class F>
decltype(auto) dispatch_all(DType t, F&& f);

[[noreturn]] void throw_dtype_unsupported(const char* what, DType t, const char* expected);

template <class F>
decltype(auto) dispatch_floating(DType t, const char* what, F&& f) {
  switch (t) {
    case DType::f64: return f(TypeTag<double>{});
    case DType::f32: return f(TypeTag<float>{});
    case DType::bf16: return f(TypeTag<bf16>{});
    case DType::f16: return f(TypeTag<f16>{});
    default: throw_dtype_unsupported(what, t, "a floating dtype (f64, f32, bf16, f16)");
  }
}

template <class F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::f64: return f(TypeTag<double>{});
    case DType::f32: return f(TypeTag<float>{});
    case DType::bf16: return f(TypeTag<bf16>{});
    case DType::f16: return f(TypeTag<f16>{});
    case DType::i32: return f(TypeTag<int32_t>{});
    case DType::i64: return f(TypeTag<int64_t>{});
    case DType::u8: return f(TypeTag<uint8_t>{});
    case DType::boolean: return f(TypeTag<bool>{});
  }
  throw_dtype_unsupported("dispatch", t, "a known dtype");
}

}  // namespace kiln
