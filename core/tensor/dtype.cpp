#include "core/tensor/dtype.h"

#include "core/base/error.h"

namespace kiln {

size_t itemsize(DType t) {
  switch (t) {
    case DType::f64: case DType::i64: return 8;
    case DType::f32: case DType::i32: return 4;
    case DType::bf16: case DType::f16: return 2;
    case DType::u8: case DType::boolean: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f64: return "f64";
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
    case DType::boolean: return "bool";
  }
  return "?";
}

DType dtype_from_name(std::string_view name) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (name == dtype_name(DType(i))) return DType(i);
  KILN_FAIL("unknown dtype \"", name, "\" (expected one of f64, f32, bf16, f16, i32, i64, u8, bool)");
}

void throw_dtype_unsupported(const char* what, DType t, const char* expected) {
  KILN_FAIL(what, ": dtype ", dtype_name(t), " is not supported (expected ", expected, ")");
}

}  // namespace kiln
