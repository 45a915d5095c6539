#include "core/nn/hooks.h"

#include <algorithm>

namespace kiln::nn {

size_t HookPoint::add(HookFn fn) {
  hooks_.emplace_back(next_id_, std::move(fn));
  return next_id_++;
}

void HookPoint::remove(size_t id) {
  hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(), [id](const auto& h) { return h.first == id; }),
               hooks_.end());
}

Tensor HookPoint::run(const Tensor& x) const {
  Tensor y = x;
  for (const auto& [id, fn] : hooks_) {
    Tensor r = fn(y, name_);
    KILN_CHECK(r.defined() && r.shape() == y.shape(), "hook on ", name_, " returned a tensor of shape ",
               r.defined() ? shape_str(r.shape()) : std::string("(undefined)"), " for an activation of shape ",
               y.shape());
    y = r;
  }
  return y;
}

}  // namespace kiln::nn
