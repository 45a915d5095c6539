#include "core/autograd/autograd.h"

#include <unordered_map>

#include "core/ops/elementwise.h"
#include "core/tensor/factory.h"
#include "core/tensor/random.h"

namespace kiln::autograd {
namespace {

thread_local bool t_grad_enabled = true;

// The node a gradient for t flows into: its producer, or (for a leaf) its accumulator.
std::shared_ptr<Node> edge_of(const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return impl->grad_fn;
  if (!impl->grad_accumulator) {
    auto acc = std::make_shared<Node>();
    acc->op = "accumulate_grad";
    acc->accumulates = true;
    acc->leaf = t.impl_ptr();
    impl->grad_accumulator = acc;
  }
  return impl->grad_accumulator;
}

bool owns_storage_alone(const Tensor& g) {
  return g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 && g.is_contiguous() &&
         g.offset() == 0 && g.storage()->nbytes() == g.nbytes();
}

void accumulate_into_leaf(TensorImpl& leaf, const Tensor& g) {
  if (!leaf.grad) {
    // Steal a gradient nobody else references; otherwise copy it, since later accumulation
    // happens in place and must not write into another tensor's memory.
    Tensor owned = owns_storage_alone(g) ? g : g.clone();
    leaf.grad = owned.impl_ptr();
  } else {
    Tensor acc(leaf.grad);
    ops::add_(acc, g);
  }
}

}  // namespace

const char* node_name(const std::shared_ptr<Node>& n) { return n ? n->op : "(none)"; }

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool on) { t_grad_enabled = on; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* op, const std::vector<Tensor>& inputs, const Tensor& out, BackwardFn backward) {
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->next.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    bool edge = in.defined() && in.requires_grad();
    node->next.push_back(edge ? edge_of(in) : nullptr);
    node->input_shapes.push_back(in.defined() ? in.shape() : Shape{});
    node->input_dtypes.push_back(in.defined() ? in.dtype() : DType::f32);
  }
  node->backward = std::move(backward);
  TensorImpl* o = out.impl();
  o->grad_fn = std::move(node);
  o->requires_grad = true;
}

void retain_grad(const Tensor& t) {
  KILN_CHECK(t.requires_grad(), "retain_grad: the tensor does not require grad");
  if (t.is_leaf()) return;  // leaves keep their gradient anyway
  t.grad_fn()->retain = t.impl_ptr();
}

void check_inplace(const Tensor& t, const char* op) {
  KILN_CHECK(!(grad_enabled() && t.requires_grad() && t.is_leaf()), op,
             ": in-place write to a leaf that requires grad while grad mode is on; wrap it in "
             "autograd::NoGrad (as optimizers do) or detach() first");
}

void backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
  KILN_CHECK(root.defined(), "backward: undefined tensor");
  KILN_CHECK(root.requires_grad(), "backward: the tensor does not require grad (no input of the ops that made ",
             "it requires grad, or it was computed under NoGrad)");
  Tensor grad = grad_in;
  if (!grad.defined()) {
    KILN_CHECK(root.numel() == 1, "backward: a gradient must be given for a non-scalar output of shape ",
               root.shape());
    grad = ones(root.shape(), root.dtype(), root.device());
  }
  KILN_CHECK(grad.shape() == root.shape(), "backward: gradient of shape ", grad.shape(),
             " does not match output of shape ", root.shape());
  KILN_CHECK(grad.dtype() == root.dtype(), "backward: gradient dtype ", dtype_name(grad.dtype()),
             " does not match output dtype ", dtype_name(root.dtype()));

  NoGrad no_grad;
  std::shared_ptr<Node> start = edge_of(root);

  // Count, for every node reachable from the root, how many edges lead into it.
  std::unordered_map<Node*, int> deps;
  {
    std::vector<Node*> stack{start.get()};
    deps[start.get()] = 0;
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (const auto& nx : n->next) {
        if (!nx) continue;
        auto [it, fresh] = deps.try_emplace(nx.get(), 0);
        ++it->second;
        if (fresh) stack.push_back(nx.get());
      }
    }
  }

  // Kahn's algorithm: a node runs once every consumer has sent its gradient.
  std::unordered_map<Node*, Tensor> pending;
  pending[start.get()] = grad;
  std::vector<Node*> ready{start.get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Tensor g;
    if (auto it = pending.find(n); it != pending.end()) {
      g = std::move(it->second);
      pending.erase(it);
    }
    if (n->accumulates) {
      if (auto leaf = n->leaf.lock(); leaf && g.defined()) accumulate_into_leaf(*leaf, g);
      continue;
    }
    std::vector<Tensor> grads;
    if (g.defined()) {
      KILN_CHECK(!n->released, "backward: the graph through '", n->op,
                 "' was freed by an earlier backward; pass retain_graph=true to the first backward to "
                 "run backward through it again");
      if (auto keep = n->retain.lock()) keep->grad = (owns_storage_alone(g) ? g : g.clone()).impl_ptr();
      std::vector<bool> needs(n->next.size());
      for (size_t i = 0; i < n->next.size(); ++i) needs[i] = n->next[i] != nullptr;
      grads = n->backward(g, NeedsGrad(std::move(needs)));
      KILN_CHECK(grads.size() == n->next.size(), "backward of '", n->op, "' returned ", grads.size(),
                 " gradients for ", n->next.size(), " inputs");
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* nx = n->next[i].get();
      if (!nx) continue;
      if (i < grads.size() && grads[i].defined()) {
        Tensor gi = grads[i];
        KILN_CHECK(gi.shape() == n->input_shapes[i], "backward of '", n->op, "' gave a gradient of shape ",
                   gi.shape(), " for input ", i, " of shape ", n->input_shapes[i]);
        if (gi.dtype() != n->input_dtypes[i]) gi = gi.to(n->input_dtypes[i]);
        auto [it, fresh] = pending.try_emplace(nx, gi);
        if (!fresh) {
          // A sum this map alone holds is added to in place (no new tensor).
          Tensor& acc = it->second;
          if (owns_storage_alone(acc) && acc.dtype() == gi.dtype() && !acc.is_same(gi))
            ops::add_(acc, gi);
          else
            acc = ops::add(acc, gi);
        }
      }
      if (--deps[nx] == 0) ready.push_back(nx);
    }
    if (!retain_graph && g.defined()) {
      n->backward = nullptr;
      n->released = true;
    }
  }
}

Tensor checkpoint(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs) {
  if (!needs_grad(inputs) && !grad_enabled()) return fn(inputs);
  Generator& gen = default_generator();
  RngState rng_at_forward = gen.state();
  Tensor out;
  {
    NoGrad no_grad;
    out = fn(inputs);
  }
  // Parameters used inside fn are not inputs: their gradients are accumulated by the nested
  // backward below, as in PyTorch's reentrant checkpoint. The node must exist even when no
  // explicit input requires grad, so record against a dummy edge-free input list in that case.
  std::vector<Tensor> saved;
  saved.reserve(inputs.size());
  for (const Tensor& t : inputs) saved.push_back(t.defined() ? t.detach() : t);
  auto body = [fn, saved, rng_at_forward](const Tensor& g, const NeedsGrad& needs) {
    Generator& gen = default_generator();
    RngState now = gen.state();
    gen.set_state(rng_at_forward);
    std::vector<Tensor> xs;
    for (size_t i = 0; i < saved.size(); ++i) {
      Tensor x = saved[i].defined() ? saved[i].detach() : saved[i];
      if (x.defined() && needs[i]) x.requires_grad_(true);
      xs.push_back(x);
    }
    Tensor y;
    {
      EnableGrad enable;
      y = fn(xs);
    }
    gen.set_state(now);
    if (y.requires_grad()) y.backward(g);
    std::vector<Tensor> grads;
    for (size_t i = 0; i < xs.size(); ++i) grads.push_back(needs[i] ? xs[i].grad() : Tensor());
    return grads;
  };
  if (needs_grad(inputs)) {
    record("checkpoint", inputs, out, body);
  } else {
    // No input requires grad but the segment's parameters may: make the output a non-leaf
    // whose node has no input edges and only runs the recomputation.
    auto node = std::make_shared<Node>();
    node->op = "checkpoint";
    node->backward = [body](const Tensor& g, const NeedsGrad&) {
      body(g, NeedsGrad({}));
      return std::vector<Tensor>{};
    };
    out.impl()->grad_fn = std::move(node);
    out.impl()->requires_grad = true;
  }
  return out;
}

}  // namespace kiln::autograd
