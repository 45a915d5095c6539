// Joining, splitting, indexing and masks.
#pragma once

#include <vector>

#include "core/tensor/tensor.h"

namespace kiln::ops {

/// Joins tensors of equal shape except along dim.
Tensor concat(const std::vector<Tensor>& tensors, int64_t dim = 0);
/// Joins tensors of equal shape along a new dim.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
/// Pieces of `size` along dim (the last may be smaller); views of x.
std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim = 0);
/// Pieces with the given sizes along dim (they must sum to x.size(dim)); views of x.
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
/// n pieces of (nearly) equal size along dim, as torch.chunk.
std::vector<Tensor> chunk(const Tensor& x, int64_t n, int64_t dim = 0);

/// x's slices at `index` (1-d, i32/i64) along dim.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
/// out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and likewise for other dims); index has
/// x's rank, and each of its sizes is at most x's except along dim.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
/// A copy of x with src added at `index` along dim: out[index[i][j]][j] += src[i][j] (dim 0).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
/// weight [V, D] rows for token ids [...] -> [..., D]; backward scatter-adds into weight.
Tensor embedding(const Tensor& weight, const Tensor& ids);
/// ids [...] -> [..., num_classes] with a 1 at each id (not differentiable).
Tensor one_hot(const Tensor& ids, int64_t num_classes, DType dtype = DType::i64);

/// Zeroes elements above diagonal k of the last two dims (tril) or below it (triu).
Tensor tril(const Tensor& x, int64_t k = 0);
Tensor triu(const Tensor& x, int64_t k = 0);
/// A bool [rows, cols] mask, true on and below diagonal k (a causal mask for k = cols - rows).
Tensor tril_mask(int64_t rows, int64_t cols, int64_t k = 0, Device device = Device::cpu());
/// A bool [rows, cols] mask, true on and above diagonal k.
Tensor triu_mask(int64_t rows, int64_t cols, int64_t k = 0, Device device = Device::cpu());

}  // namespace kiln::ops
