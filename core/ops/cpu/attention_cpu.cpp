// CPU kernels of the attention family. The pointer kernels compute in acc_t<T> (f64 for f64,
// f32 otherwise): bf16 and f16 operands are converted to f32 copies (linear in the sequence
// length) and results converted back.
#include <vector>

#include "core/base/threads.h"
#include "core/ops/attention_kernels.h"
#include "core/ops/cpu/register.h"
#include "core/ops/view.h"
#include "core/tensor/factory.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cpu/rotary.h"

namespace kiln::ops::cpu {
namespace {

template <class A>
kiln::cpu::AttentionArgs<A> make_args(const AttentionParams& p, const Tensor& bias,
                                      const Tensor& mask) {
  kiln::cpu::AttentionArgs<A> a;
  a.B = p.B, a.H = p.H, a.Hkv = p.Hkv, a.T = p.T, a.S = p.S, a.D = p.D, a.Dv = p.Dv;
  a.scale = A(p.scale);
  a.causal = p.causal;
  a.window = p.window;
  a.dropout = p.dropout;
  a.seed = p.rng.seed;
  a.offset = p.rng.offset;
  const Shape full{p.B, p.H, p.T, p.S};
  if (bias.defined()) {
    Tensor bv = broadcast_view(bias, full, "scaled_dot_product_attention (bias)");
    a.bias = bv.data<A>();
    for (int d = 0; d < 4; ++d) a.bias_strides[d] = bv.stride(d);
  }
  if (mask.defined()) {
    Tensor mv = broadcast_view(mask, full, "scaled_dot_product_attention (mask)");
    a.mask = mv.data<bool>();
    for (int d = 0; d < 4; ++d) a.mask_strides[d] = mv.stride(d);
  }
  return a;
}

// True when the kernels can address t as it is: 4-d with a contiguous last dim.
bool rows_ok(const Tensor& t) {
  return t.dim() == 4 && (t.stride(3) == 1 || t.size(3) <= 1);
}

// An operand in the compute dtype: the same tensor when it already is one the kernels address
// (any strides but a contiguous last dim), else a contiguous copy.
template <class A>
Tensor in_acc(const Tensor& t) {
  if (!t.defined()) return Tensor();
  Tensor a = t.to(dtype_v<A>);
  return rows_ok(a) ? a : a.contiguous();
}
// Where a kernel writes a result that belongs in `t`: t itself, or an A-typed temporary.
template <class A>
Tensor out_acc(const Tensor& t) {
  return t.dtype() == dtype_v<A> && rows_ok(t) ? t : empty(t.shape(), dtype_v<A>);
}

kiln::cpu::AttentionLayout layout_of(const Tensor& t) {
  return {t.stride(0), t.stride(1), t.stride(2)};
}

// dst <- src for a result computed in a temporary (the handle is shared, the data written).
void copy_into(const Tensor& dst, const Tensor& src) {
  if (dst.is_same(src)) return;
  Tensor d = dst;
  d.copy_(src);
}

template <class T>
void attention_forward_cpu(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                           const Tensor& v, const Tensor& bias, const Tensor& mask,
                           const AttentionParams& p) {
  using A = acc_t<T>;
  Tensor qa = in_acc<A>(q), ka = in_acc<A>(k), va = in_acc<A>(v), ba = in_acc<A>(bias);
  Tensor oa = out_acc<A>(out);
  auto args = make_args<A>(p, ba, mask);
  args.q = layout_of(qa), args.k = layout_of(ka), args.v = layout_of(va);
  args.out = layout_of(oa);
  kiln::cpu::attention_forward<A>(oa.data<A>(), lse.data<A>(), qa.data<A>(), ka.data<A>(),
                                  va.data<A>(), args, num_threads());
  copy_into(out, oa);
}

template <class T>
void attention_backward_cpu(const Tensor& dq, const Tensor& dk, const Tensor& dv,
                            const Tensor& dbias, const Tensor& dout, const Tensor& q,
                            const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                            const Tensor& bias, const Tensor& mask, const AttentionParams& p) {
  using A = acc_t<T>;
  Tensor qa = in_acc<A>(q), ka = in_acc<A>(k), va = in_acc<A>(v), ba = in_acc<A>(bias);
  Tensor oa = in_acc<A>(out), doa = in_acc<A>(dout);
  Tensor dqa = out_acc<A>(dq), dka = out_acc<A>(dk), dva = out_acc<A>(dv);
  auto args = make_args<A>(p, ba, mask);
  args.q = layout_of(qa), args.k = layout_of(ka), args.v = layout_of(va);
  args.out = layout_of(oa), args.dout = layout_of(doa);
  args.dq = layout_of(dqa), args.dk = layout_of(dka), args.dv = layout_of(dva);
  kiln::cpu::attention_backward<A>(dqa.data<A>(), dka.data<A>(), dva.data<A>(),
                                   dbias.defined() ? dbias.data<A>() : nullptr, doa.data<A>(),
                                   qa.data<A>(), ka.data<A>(), va.data<A>(), oa.data<A>(),
                                   lse.data<A>(), args, num_threads());
  copy_into(dq, dqa);
  copy_into(dk, dka);
  copy_into(dv, dva);
}

template <class T>
void rotary_cpu(const Tensor& out, const Tensor& x, int64_t rotated, double theta, int64_t offset,
                bool inverse) {
  using A = acc_t<T>;
  if (x.numel() == 0) return;
  const int64_t Tn = x.size(-2), D = x.size(-1), half = rotated / 2;
  std::vector<A> c(size_t(Tn * half)), s(size_t(Tn * half));
  kiln::cpu::rotary_tables(c.data(), s.data(), Tn, half, theta, offset);
  kiln::cpu::rotary_apply<T>(out.data<T>(), x.data<T>(), x.numel() / (Tn * D), Tn, D, rotated,
                             c.data(), s.data(), inverse, num_threads());
}

template <class T>
void dropout_cpu(const Tensor& out, const Tensor& x, double p, const RngState& s) {
  kiln::cpu::dropout_forward<T>(out.data<T>(), x.data<T>(), x.numel(), p, s.seed, s.offset,
                                num_threads());
}

void dropout_mask_cpu(const Tensor& out, double p, const RngState& s) {
  kiln::cpu::dropout_mask_fill(out.data<bool>(), out.numel(), p, s.seed, s.offset, num_threads());
}

template <class T>
void register_floating() {
  constexpr DType t = dtype_v<T>;
  constexpr auto cpu = Device::Type::cpu;
  attention_forward_kernels.set(cpu, t, &attention_forward_cpu<T>);
  attention_backward_kernels.set(cpu, t, &attention_backward_cpu<T>);
  rotary_kernels.set(cpu, t, &rotary_cpu<T>);
  dropout_kernels.set(cpu, t, &dropout_cpu<T>);
}

}  // namespace

void register_attention() {
  register_floating<double>();
  register_floating<float>();
  register_floating<bf16>();
  register_floating<f16>();
  dropout_mask_kernels.set(Device::Type::cpu, DType::boolean, &dropout_mask_cpu);
}

}  // namespace kiln::ops::cpu
