// CPU kernels of the index family: the op layer hands over checked indices; these pick the
// element and index types and run the pointer kernels of kernels/cpu/index.h.
#include <algorithm>

#include "core/base/threads.h"
#include "core/ops/cpu/loop.h"
#include "core/ops/cpu/register.h"
#include "core/ops/index_kernels.h"
#include "core/ops/view.h"
#include "kernels/cpu/index.h"

namespace kiln::ops::cpu {
namespace {

// Calls f(TypeTag<I>{}) for the index dtype (the op layer has already refused other dtypes).
template <class F>
void with_index_type(const Tensor& index, F&& f) {
  if (index.dtype() == DType::i32)
    f(TypeTag<int32_t>{});
  else if (index.dtype() == DType::i64)
    f(TypeTag<int64_t>{});
  else
    KILN_FAIL("internal: index of dtype ", dtype_name(index.dtype()), " reached an index kernel");
}

template <class I>
bool index_check_cpu(const Tensor& index, int64_t size, std::optional<int64_t> skip, int64_t* bad) {
  Tensor c = index.contiguous();
  const I* p = c.data<I>();
  int64_t pos = kiln::cpu::find_bad_index(p, c.numel(), size, skip.has_value(), skip.value_or(0),
                                          num_threads());
  if (pos < 0) return true;
  *bad = int64_t(p[pos]);
  return false;
}

template <class T>
void index_select_cpu(const Tensor& out, const Tensor& x, const Tensor& index, int64_t outer,
                      int64_t V, int64_t inner) {
  with_index_type(index, [&](auto it) {
    using I = typename decltype(it)::type;
    kiln::cpu::index_select_rows(out.data<T>(), x.data<T>(), index.data<I>(), outer, V,
                                 index.numel(), inner, num_threads());
  });
}

template <class T>
void index_add_cpu(const Tensor& dx, const Tensor& g, const Tensor& index, int64_t outer, int64_t V,
                   int64_t inner) {
  with_index_type(index, [&](auto it) {
    using I = typename decltype(it)::type;
    kiln::cpu::index_add_rows(dx.data<T>(), g.data<T>(), index.data<I>(), outer, V, index.numel(),
                              inner, num_threads());
  });
}

// Gather and scatter-add iterate over index's shape with the indexed dim collapsed to 1 (the
// "positions"), each position walking its line along dim. Views of every operand at that
// collapsed shape keep their own strides, so any layout works.
struct Lines {
  Shape shape;
  kiln::cpu::DimSteps steps;
  int64_t grain;
};

Lines lines_of(const Tensor& index, int64_t dim) {
  Lines l;
  l.shape = index.shape();
  l.steps.len = l.shape[size_t(dim)];
  l.shape[size_t(dim)] = 1;
  // Each position costs `len` elements of work: keep chunks near the usual 32K elements.
  l.grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, l.steps.len));
  return l;
}

Tensor at_shape(const Tensor& t, const Shape& s) {
  return as_strided(t, s, t.strides(), t.offset());
}

template <class T>
void gather_cpu(const Tensor& out, const Tensor& x, const Tensor& index, int64_t dim) {
  with_index_type(index, [&](auto it) {
    using I = typename decltype(it)::type;
    Lines l = lines_of(index, dim);
    l.steps.out = out.stride(dim) * int64_t(sizeof(T));
    l.steps.in = x.stride(dim) * int64_t(sizeof(T));
    l.steps.idx = index.stride(dim) * int64_t(sizeof(I));
    Tensor ov = at_shape(out, l.shape), xv = at_shape(x, l.shape), iv = at_shape(index, l.shape);
    for_each_run<3>(
        {&ov, &xv, &iv},
        [&](char* const* p, int64_t n, const int64_t* s) {
          kiln::cpu::gather_run<T, I>(p[0], p[1], p[2], n, s[0], s[1], s[2], l.steps);
        },
        l.grain);
  });
}

template <class T>
void scatter_add_cpu(const Tensor& out, const Tensor& src, const Tensor& index, int64_t dim) {
  with_index_type(index, [&](auto it) {
    using I = typename decltype(it)::type;
    Lines l = lines_of(index, dim);
    l.steps.out = out.stride(dim) * int64_t(sizeof(T));
    l.steps.in = src.stride(dim) * int64_t(sizeof(T));
    l.steps.idx = index.stride(dim) * int64_t(sizeof(I));
    Tensor ov = at_shape(out, l.shape), sv = at_shape(src, l.shape), iv = at_shape(index, l.shape);
    for_each_run<3>(
        {&ov, &sv, &iv},
        [&](char* const* p, int64_t n, const int64_t* s) {
          kiln::cpu::scatter_add_run<T, I>(p[0], p[1], p[2], n, s[0], s[1], s[2], l.steps);
        },
        l.grain);
  });
}

template <class T>
void add_copying() {
  index_select_kernels.set(Device::Type::cpu, dtype_v<T>, &index_select_cpu<T>);
  gather_kernels.set(Device::Type::cpu, dtype_v<T>, &gather_cpu<T>);
}

template <class T>
void add_summing() {
  index_add_kernels.set(Device::Type::cpu, dtype_v<T>, &index_add_cpu<T>);
  scatter_add_kernels.set(Device::Type::cpu, dtype_v<T>, &scatter_add_cpu<T>);
}

}  // namespace

void register_index() {
  index_check_kernels.set(Device::Type::cpu, DType::i32, &index_check_cpu<int32_t>);
  index_check_kernels.set(Device::Type::cpu, DType::i64, &index_check_cpu<int64_t>);
  add_copying<double>();
  add_copying<float>();
  add_copying<bf16>();
  add_copying<f16>();
  add_copying<int32_t>();
  add_copying<int64_t>();
  add_copying<uint8_t>();
  add_copying<bool>();
  add_summing<double>();
  add_summing<float>();
  add_summing<bf16>();
  add_summing<f16>();
  add_summing<int32_t>();
  add_summing<int64_t>();
  add_summing<uint8_t>();
}

}  // namespace kiln::ops::cpu
