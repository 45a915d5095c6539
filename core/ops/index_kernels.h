// Kernel tables of the index family. Index tensors are i32 or i64 and, except for
// index_check, arrive checked to be in range.
#pragma once

#include <optional>

#include "core/ops/dispatch.h"
#include "core/tensor/tensor.h"

namespace kiln::ops {

/// Scans an index tensor (any layout) for a value outside [0, size) other than `skip`. Returns
/// true when there is none; otherwise stores the first such value (row-major) in *bad. Keyed
/// by the index's dtype.
using IndexCheckKernel = bool(const Tensor& index, int64_t size, std::optional<int64_t> skip,
                              int64_t* bad);

/// out[o, j, i] = x[o, index[j], i] with x contiguous [outer, V, inner], out contiguous
/// [outer, n, inner] and index contiguous [n]. Keyed by x's dtype.
using IndexSelectKernel = void(const Tensor& out, const Tensor& x, const Tensor& index,
                               int64_t outer, int64_t V, int64_t inner);
/// dx[o, index[j], i] += g[o, j, i] (the adjoint of index_select), same layouts; each element
/// of dx adds its terms in j order. Keyed by dx's dtype.
using IndexAddKernel = void(const Tensor& dx, const Tensor& g, const Tensor& index, int64_t outer,
                            int64_t V, int64_t inner);
/// out = x gathered along dim at index: out and index share a shape; x is any strided tensor
/// whose sizes off dim are at least index's. Keyed by x's dtype.
using GatherKernel = void(const Tensor& out, const Tensor& x, const Tensor& index, int64_t dim);
/// out[index[p] along dim] += src[p] for every position p of index, in place on out; src's
/// sizes are at least index's, out's at least index's off dim. Keyed by out's dtype.
using ScatterAddKernel = void(const Tensor& out, const Tensor& src, const Tensor& index,
                              int64_t dim);

inline constinit KernelTable<IndexCheckKernel> index_check_kernels{"index_check"};
inline constinit KernelTable<IndexSelectKernel> index_select_kernels{"index_select"};
inline constinit KernelTable<IndexAddKernel> index_add_kernels{"index_add"};
inline constinit KernelTable<GatherKernel> gather_kernels{"gather"};
inline constinit KernelTable<ScatterAddKernel> scatter_add_kernels{"scatter_add"};

/// Throws unless index is i32/i64 (naming op and the index's dtype and shape).
void check_index_dtype(const char* op, const Tensor& index, const char* what = "indices");
/// The first value (row-major) of index outside [0, size) other than `skip`, if any.
std::optional<int64_t> first_bad_index(const char* op, const Tensor& index, int64_t size,
                                       std::optional<int64_t> skip = std::nullopt);
/// Throws unless every value of index is in [0, size), naming op, the first bad value,
/// `what_size` (e.g. "dim 1") and size.
void check_index_range(const char* op, const Tensor& index, int64_t size,
                       const std::string& what_size);

}  // namespace kiln::ops
