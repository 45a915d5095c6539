#include "core/ops/autocast.h"

#include "core/base/error.h"

namespace kiln::ops {

namespace {
thread_local DType autocast_dtype_ = DType::f32;
}

DType autocast_dtype() {
  return autocast_dtype_;
}

Autocast::Autocast(DType dtype) : saved_(autocast_dtype_) {
  KILN_CHECK(dtype == DType::f32 || dtype == DType::bf16 || dtype == DType::f16,
             "autocast: the compute dtype must be bf16, f16 or f32 (off), got ", dtype_name(dtype));
  autocast_dtype_ = dtype;
}

Autocast::~Autocast() {
  autocast_dtype_ = saved_;
}

}  // namespace kiln::ops
