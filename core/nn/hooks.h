// Hook points: named activations (TransformerLens names, blocks.3.hook_resid_pre) that probes
// read, cache or replace. A module registers its hook points and passes activations through
// them in forward: `x = hook_resid_pre_(x);` returns x itself, without a copy, unless a hook is
// set, so hooks cost nothing when unused (one test of an empty vector per point).
//
// TransformerLens's interface on top of them, for any model:
//   auto [logits, cache] = nn::run_with_cache(model, tokens, nn::names_ending("hook_z"));
//   { nn::Hooks h(model);  // removed when h goes out of scope
//     h.add("blocks.0.hook_resid_post", nn::replace_with(cache.at("blocks.0.hook_resid_post")));
//     Tensor patched = model.forward(tokens, state); }
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor/tensor.h"

namespace kiln::nn {

class Module;
class Model;
struct ForwardState;

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

/// Hook point name -> activation (detached), as run_with_cache fills it.
using ActivationCache = std::map<std::string, Tensor>;
/// Which hook points to cache, by full name; an empty filter caches every point.
using HookFilter = std::function<bool(const std::string& name)>;

/// Adds a hook to the model's hook point `name` (throws naming the closest existing one) and
/// returns its guard: the hook is removed when the guard goes out of scope.
[[nodiscard]] ScopedHook add_hook(const Module& model, const std::string& name, HookFn fn);

/// A set of hooks on one model, all removed when it goes out of scope (or at clear()).
class Hooks {
 public:
  explicit Hooks(const Module& model) : model_(&model) {}
  /// Adds fn at the hook point `name`; hooks at one point run in the order added.
  Hooks& add(const std::string& name, HookFn fn);
  void clear() { hooks_.clear(); }
  size_t size() const { return hooks_.size(); }

 private:
  const Module* model_;
  std::vector<ScopedHook> hooks_;
};

/// A hook that replaces the activation by `value` (same shape; the cached activation of another
/// run, for patching).
HookFn replace_with(Tensor value);
/// A hook that replaces the slice [start, start + length) of dimension `dim` by the same slice
/// of `value` (a full-size tensor): one position of a residual stream (dim 1), one head of
/// hook_z (dim 2).
HookFn patch_slice(Tensor value, int64_t dim, int64_t start, int64_t length = 1);
/// A hook that sets the slice [start, start + length) of dimension `dim` to `fill` (a tensor
/// broadcastable to the slice, e.g. a mean over the batch), or to zero when fill is undefined.
HookFn ablate_slice(int64_t dim, int64_t start, int64_t length = 1, Tensor fill = Tensor());

/// Filters: names equal to one of `names`; names ending in `suffix` ("hook_z").
HookFilter names_in(std::vector<std::string> names);
HookFilter names_ending(std::string suffix);

struct CacheRun {
  Tensor logits;          ///< [B, T, V], the model's forward
  ActivationCache cache;  ///< every hook point that passed the filter and was reached
};

/// Runs model.forward(tokens) without gradients, caching the activations of the hook points
/// that pass `filter` (after any hooks already set on them, so a patched run caches the patched
/// values). `state` defaults to a fresh ForwardState. The model's own hooks are untouched.
CacheRun run_with_cache(Model& model, const Tensor& tokens, const HookFilter& filter = {},
                        ForwardState* state = nullptr);

}  // namespace kiln::nn
