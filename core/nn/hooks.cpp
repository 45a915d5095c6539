#include "core/nn/hooks.h"

#include <algorithm>

#include "core/autograd/autograd.h"
#include "core/nn/model.h"

namespace kiln::nn {

size_t HookPoint::add(HookFn fn) {
  hooks_.emplace_back(next_id_, std::move(fn));
  return next_id_++;
}

void HookPoint::remove(size_t id) {
  hooks_.erase(
      std::remove_if(hooks_.begin(), hooks_.end(), [id](const auto& h) { return h.first == id; }),
      hooks_.end());
}

Tensor HookPoint::run(const Tensor& x) const {
  Tensor y = x;
  for (const auto& [id, fn] : hooks_) {
    Tensor r = fn(y, name_);
    KILN_CHECK(r.defined() && r.shape() == y.shape(), "hook on ", name_,
               " returned a tensor of shape ",
               r.defined() ? shape_str(r.shape()) : std::string("(undefined)"),
               " for an activation of shape ", y.shape());
    y = r;
  }
  return y;
}

ScopedHook add_hook(const Module& model, const std::string& name, HookFn fn) {
  return ScopedHook(model.hook_point(name), std::move(fn));
}

Hooks& Hooks::add(const std::string& name, HookFn fn) {
  hooks_.push_back(add_hook(*model_, name, std::move(fn)));
  return *this;
}

HookFn replace_with(Tensor value) {
  KILN_CHECK(value.defined(), "replace_with: the replacement is undefined");
  return [value](const Tensor& x, const std::string& name) {
    KILN_CHECK(value.shape() == x.shape(), "replace_with at ", name, ": replacement of shape ",
               value.shape(), " for an activation of shape ", x.shape());
    return value.to(x.dtype());
  };
}

namespace {

Tensor slice_of(const Tensor& t, int64_t dim, int64_t start, int64_t length,
                const std::string& name, const char* who) {
  const int64_t d = dim < 0 ? dim + t.dim() : dim;
  KILN_CHECK(d >= 0 && d < t.dim() && start >= 0 && length >= 1 && start + length <= t.size(d), who,
             " at ", name, ": slice [", start, ", ", start + length, ") of dim ", dim,
             " is outside an activation of shape ", t.shape());
  return t.narrow(d, start, length);
}

}  // namespace

HookFn patch_slice(Tensor value, int64_t dim, int64_t start, int64_t length) {
  KILN_CHECK(value.defined(), "patch_slice: the source is undefined");
  return [value, dim, start, length](const Tensor& x, const std::string& name) {
    KILN_CHECK(value.shape() == x.shape(), "patch_slice at ", name, ": source of shape ",
               value.shape(), " for an activation of shape ", x.shape());
    autograd::NoGrad no_grad;
    Tensor y = x.detach().clone();
    slice_of(y, dim, start, length, name, "patch_slice")
        .copy_(slice_of(value, dim, start, length, name, "patch_slice"));
    return y;
  };
}

HookFn ablate_slice(int64_t dim, int64_t start, int64_t length, Tensor fill) {
  return [dim, start, length, fill](const Tensor& x, const std::string& name) {
    autograd::NoGrad no_grad;
    Tensor y = x.detach().clone();
    Tensor s = slice_of(y, dim, start, length, name, "ablate_slice");
    if (fill.defined())
      s.copy_(fill.to(y.dtype()).expand(s.shape()));
    else
      s.zero_();
    return y;
  };
}

HookFilter names_in(std::vector<std::string> names) {
  return [names = std::move(names)](const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
}

HookFilter names_ending(std::string suffix) {
  return [suffix = std::move(suffix)](const std::string& n) {
    return n.size() >= suffix.size() &&
           n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
}

CacheRun run_with_cache(Model& model, const Tensor& tokens, const HookFilter& filter,
                        ForwardState* state) {
  autograd::NoGrad no_grad;
  CacheRun out;
  std::vector<ScopedHook> hooks;
  for (auto& [name, point] : model.named_hook_points()) {
    if (filter && !filter(name)) continue;
    hooks.emplace_back(*point, [&cache = out.cache](const Tensor& x, const std::string& n) {
      cache[n] = x.detach();
      return x;
    });
  }
  ForwardState fresh;
  out.logits = model.forward(tokens, state ? *state : fresh);
  return out;
}

}  // namespace kiln::nn
