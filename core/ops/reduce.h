// Reductions over dims, scans, selection and the softmax family.
//
// `dims` lists the dims to reduce (negative counts from the end); an empty list reduces all.
// With keepdim the reduced dims stay as size 1. Sums of floating tensors are computed in fixed
// chunks combined in a fixed order, so results do not depend on the thread count.
#pragma once

#include <utility>
#include <vector>

#include "core/tensor/tensor.h"

namespace kiln::ops {

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
/// Largest / smallest value over dims; at ties the gradient is shared equally (like amax).
Tensor max(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor min(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
/// Variance with Bessel's correction `correction` (1 = unbiased, 0 = population).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);
/// log(sum(exp(x))) over dims, computed stably (max subtracted).
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

/// Index (i64) of the largest / smallest value along dim; the first one at ties.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
/// The k largest (or smallest) values along dim and their indices (i64). Sorted: in rank
/// order; unsorted: in index order. NaN counts as the largest value; ties go to the lower index.
/// The values are differentiable (the gradient goes back to the selected elements).
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                               bool sorted = true);
/// Inclusive prefix sum along dim; integer inputs give i64. Differentiable for floating x.
Tensor cumsum(const Tensor& x, int64_t dim);

/// exp(x - max) / sum(exp(x - max)) along dim, fused (forward and backward). A line holding
/// +inf, or only -inf, gives NaN (as in PyTorch).
Tensor softmax(const Tensor& x, int64_t dim);
/// (x - max) - log(sum(exp(x - max))) along dim, fused.
Tensor log_softmax(const Tensor& x, int64_t dim);

/// Canonical reduced-dim list: wrapped, sorted, unique; all dims when `dims` is empty.
std::vector<int64_t> reduction_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op);
/// The shape after reducing `dims` (sorted) with or without keepdim.
Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim);
/// Re-inserts the reduced dims as size 1 into a gradient of a reduction made without keepdim,
/// then broadcasts it to `shape`.
Tensor expand_reduced(const Tensor& g, const Shape& shape, const std::vector<int64_t>& dims, bool keepdim);

}  // namespace kiln::ops
