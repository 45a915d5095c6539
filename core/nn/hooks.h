// Hook points: named activations (TransformerLens names, blocks.3.hook_resid_pre) that probes
// read, cache or replace. A module registers its hook points and passes activations through
// them in forward: `x = hook_resid_pre_(x);` returns x itself, without a copy, unless a hook is
// set, so hooks cost nothing when unused.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor/tensor.h"

namespace kiln::nn {

/// Reads or replaces an activation: return x to leave it, or a tensor of the same shape to
/// replace it. `name` is the hook point's full dotted name.
using HookFn = std::function<Tensor(const Tensor& x, const std::string& name)>;

class HookPoint {
 public:
  HookPoint() = default;
  HookPoint(const HookPoint&) = delete;
  HookPoint& operator=(const HookPoint&) = delete;

  Tensor operator()(const Tensor& x) const { return hooks_.empty() ? x : run(x); }

  /// The full dotted name ("blocks.3.hook_resid_pre"), known once the module tree is built
  /// (Module::named_hook_points() sets it).
  const std::string& name() const { return name_; }
  /// Adds a hook; hooks run in the order added. Returns an id for remove().
  size_t add(HookFn fn);
  void remove(size_t id);
  void clear() { hooks_.clear(); }
  bool active() const { return !hooks_.empty(); }

 private:
  friend class Module;
  Tensor run(const Tensor& x) const;

  std::string name_;
  std::vector<std::pair<size_t, HookFn>> hooks_;
  size_t next_id_ = 0;
};

/// Removes its hook when the scope ends.
class ScopedHook {
 public:
  ScopedHook(HookPoint& point, HookFn fn) : point_(&point), id_(point.add(std::move(fn))) {}
  ~ScopedHook() {
    if (point_) point_->remove(id_);
  }
  ScopedHook(ScopedHook&& o) noexcept : point_(o.point_), id_(o.id_) { o.point_ = nullptr; }
  ScopedHook(const ScopedHook&) = delete;
  ScopedHook& operator=(const ScopedHook&) = delete;

 private:
  HookPoint* point_;
  size_t id_;
};

}  // namespace kiln::nn
