// Kernel tables of the attention family: fused attention, rotary embedding and dropout.
#pragma once

#include "core/ops/dispatch.h"
#include "core/tensor/random.h"
#include "core/tensor/tensor.h"

namespace kiln::ops {

/// Shapes and options of one fused attention call, resolved by the op layer.
struct AttentionParams {
  int64_t B = 0, H = 0, Hkv = 0, T = 0, S = 0, D = 0, Dv = 0;
  double scale = 1.0;
  bool causal = false;
  int64_t window = 0;
  double dropout = 0.0;
  RngState rng;  ///< the draw of the dropout mask (when dropout > 0)
};

/// out [B, H, T, Dv] (q's dtype) and lse [B, H, T] (f64 for f64, else f32, contiguous) from q, k,
/// v. q, k, v and out may have any strides (views of packed projections); a backend copies what
/// its kernels cannot address. bias (q's dtype) and mask (bool) are undefined or in their own
/// shapes, broadcastable to [B, H, T, S].
using AttentionForwardKernel = void(const Tensor& out, const Tensor& lse, const Tensor& q,
                                    const Tensor& k, const Tensor& v, const Tensor& bias,
                                    const Tensor& mask, const AttentionParams& p);
/// dq, dk, dv (inputs' dtype, overwritten; any strides, possibly slices of one buffer) and, if
/// defined, dbias [B, H, T, S] in lse's dtype (contiguous), zero-filled on entry; dout, q, k, v,
/// out with any strides.
using AttentionBackwardKernel = void(const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                     const Tensor& dbias, const Tensor& dout, const Tensor& q,
                                     const Tensor& k, const Tensor& v, const Tensor& out,
                                     const Tensor& lse, const Tensor& bias, const Tensor& mask,
                                     const AttentionParams& p);
/// out = x rotated (x, out contiguous [..., T, D]); inverse rotates by the opposite angle.
using RotaryKernel = void(const Tensor& out, const Tensor& x, int64_t rotated_dims, double theta,
                          int64_t position_offset, bool inverse);
/// out = x * keep / (1 - p) with keep drawn from s (x, out contiguous).
using DropoutKernel = void(const Tensor& out, const Tensor& x, double p, const RngState& s);
/// out (bool, contiguous) = the keep-mask of the draw s.
using DropoutMaskKernel = void(const Tensor& out, double p, const RngState& s);

inline constinit KernelTable<AttentionForwardKernel> attention_forward_kernels{
    "scaled_dot_product_attention"};
inline constinit KernelTable<AttentionBackwardKernel> attention_backward_kernels{
    "scaled_dot_product_attention_backward"};
inline constinit KernelTable<RotaryKernel> rotary_kernels{"rotary_embedding"};
inline constinit KernelTable<DropoutKernel> dropout_kernels{"dropout"};
/// Keyed by DType::boolean.
inline constinit KernelTable<DropoutMaskKernel> dropout_mask_kernels{"dropout_mask"};

}  // namespace kiln::ops
