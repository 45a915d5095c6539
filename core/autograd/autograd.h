// Reverse-mode automatic differentiation on a tape, as in PyTorch and mlx.
//
// An op whose inputs require grad records a Node: its backward, a vector-Jacobian product
// written with kiln::ops, and an edge per input to the node that produced it (or to the
// accumulator of a leaf). backward() runs the nodes in reverse topological order, summing the
// gradients that reach each node, and adds the result into each leaf's .grad(). Gradients are
// computed with grad mode off: kiln has no higher-order gradients.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/tensor/tensor.h"

namespace kiln::autograd {

/// Which inputs of a node need a gradient; a backward may skip the others (return undefined).
class NeedsGrad {
 public:
  explicit NeedsGrad(std::vector<bool> v) : v_(std::move(v)) {}
  bool operator[](size_t i) const { return i < v_.size() && v_[i]; }

 private:
  std::vector<bool> v_;
};

/// Given the gradient of the node's output, returns one gradient per input (undefined for an
/// input that needs none). Saved tensors are captured in the closure: capture outputs
/// detached (out.detach()) so that an output does not keep its own node alive.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out, const NeedsGrad& needs)>;

struct Node {
  const char* op = "";
  std::vector<std::shared_ptr<Node>> next;  // per input: its producer or leaf accumulator, or null
  std::vector<Shape> input_shapes;          // to check what backward returns
  std::vector<DType> input_dtypes;
  BackwardFn backward;
  bool released = false;             // saved tensors freed by a backward without retain_graph
  bool accumulates = false;          // a leaf's accumulator: adds the gradient into leaf->grad
  std::weak_ptr<TensorImpl> leaf;
  std::weak_ptr<TensorImpl> retain;  // set by retain_grad() on a non-leaf's producer
};

const char* node_name(const std::shared_ptr<Node>& n);

/// Grad mode (on by default) is per thread.
bool grad_enabled();
void set_grad_enabled(bool on);

/// Turns grad mode off for a scope: nothing is recorded.
class NoGrad {
 public:
  NoGrad() : saved_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGrad() { set_grad_enabled(saved_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool saved_;
};

/// Turns grad mode on for a scope (inside a NoGrad, for a recomputation).
class EnableGrad {
 public:
  EnableGrad() : saved_(grad_enabled()) { set_grad_enabled(true); }
  ~EnableGrad() { set_grad_enabled(saved_); }
  EnableGrad(const EnableGrad&) = delete;
  EnableGrad& operator=(const EnableGrad&) = delete;

 private:
  bool saved_;
};

/// True when grad mode is on and any of the tensors requires grad: whether an op must record.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
inline bool needs_grad(const Tensor& a) { return needs_grad({&a}); }
inline bool needs_grad(const Tensor& a, const Tensor& b) { return needs_grad({&a, &b}); }
inline bool needs_grad(const Tensor& a, const Tensor& b, const Tensor& c) { return needs_grad({&a, &b, &c}); }
bool needs_grad(const std::vector<Tensor>& inputs);

/// Records `out` as the result of `op` applied to `inputs`, with the given backward. Does
/// nothing unless needs_grad(inputs). Undefined inputs are allowed (optional operands).
void record(const char* op, const std::vector<Tensor>& inputs, const Tensor& out, BackwardFn backward);

/// Runs backward from `root` (see Tensor::backward).
void backward(const Tensor& root, const Tensor& grad, bool retain_graph);

/// Keeps the gradient of a non-leaf tensor in its .grad() after backward.
void retain_grad(const Tensor& t);

/// Throws if an in-place write to t would corrupt the graph: a leaf that requires grad while
/// grad mode is on. Names the op.
void check_inplace(const Tensor& t, const char* op);

/// Gradient checkpointing: runs fn(inputs) without recording, and in backward recomputes it
/// with recording on (and the random generator rewound, so dropout masks repeat) to get the
/// gradients. Activations inside fn are not kept between forward and backward.
Tensor checkpoint(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                  const std::vector<Tensor>& inputs);

}  // namespace kiln::autograd
