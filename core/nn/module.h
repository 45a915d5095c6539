// Modules: named Parameters, buffers and child Modules, with dotted names as in PyTorch
// ("blocks.3.attn.q_proj.weight"), so checkpoints read like Hugging Face's.
//
// A module registers what it owns in its constructor; names keep registration order. There
// is no virtual forward: each module declares the forward its inputs need.
//
//   struct Linear : nn::Module {
//     nn::Parameter weight, bias;
//     Linear(int64_t in, int64_t out) {
//       weight = register_parameter("weight", empty({out, in}));
//       bias = register_parameter("bias", zeros({out}));
//     }
//   };
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/nn/hooks.h"
#include "core/tensor/tensor.h"

namespace kiln::nn {

/// A trainable tensor: a floating, contiguous leaf that requires grad. A Parameter is a Tensor
/// handle, so copies (a module's member, the list an optimizer holds) share data and gradient.
class Parameter : public Tensor {
 public:
  Parameter() = default;
  /// Takes t's data (detached, made contiguous) as a new leaf that requires grad. A t that
  /// already is one (a contiguous leaf requiring grad) is kept as the same parameter, so
  /// registering a Parameter under a second name ties the two (weight tying).
  explicit Parameter(const Tensor& t);
};

/// Name -> tensor, as state_dict() returns and safetensors files hold.
using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// Every parameter of this module and its descendants, with dotted names, in registration
  /// order (a module's own parameters before its children's). A tied parameter appears once,
  /// under its first name (state_dict() has it under every name, as PyTorch).
  /// The handles are returned as Tensors, so they pass straight to optimizers and clipping.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  /// Persistent and non-persistent buffers, dotted names, registration order.
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  /// Direct children in registration order.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  /// Every hook point of this module and its descendants with its full dotted name, in
  /// registration order (sets each point's name()).
  std::vector<std::pair<std::string, HookPoint*>> named_hook_points() const;
  /// The hook point with this dotted name; throws naming the closest existing one.
  HookPoint& hook_point(const std::string& name) const;

  /// This module ("") and every descendant, depth first, with dotted names.
  std::vector<std::pair<std::string, const Module*>> named_modules() const;
  /// Total element count of the parameters.
  int64_t num_parameters() const;

  /// Training mode for this module and every descendant (dropout reads it).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Parameters and persistent buffers by dotted name, detached (sharing storage).
  StateDict state_dict() const;
  /// Copies tensors into the parameters and buffers. Shapes and dtypes must match exactly;
  /// with strict, the key sets must too. All problems are reported in one Error.
  void load_state_dict(const StateDict& dict, bool strict = true);

  /// Drops every parameter's gradient (as PyTorch's set_to_none).
  void zero_grad();
  /// Converts floating parameters and buffers to dtype in place: the Parameter objects stay
  /// the same (handles held elsewhere see the change); gradients are converted too.
  void to(DType dtype);
  /// Moves parameters, buffers and gradients to device in place, likewise.
  void to(Device device);

 protected:
  /// Registers a parameter made from t (see Parameter) and returns it.
  Parameter register_parameter(const std::string& name, const Tensor& t);
  /// Registers a buffer: state that is not trained (running statistics, masks). A persistent
  /// buffer is part of state_dict().
  Tensor register_buffer(const std::string& name, const Tensor& t, bool persistent = true);
  /// Registers a hook point named `name` ("hook_resid_pre") and returns it; it lives as long as
  /// the module.
  HookPoint& register_hook(const std::string& name);
  /// Registers a child module and returns it.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void check_new_name(const std::string& name, const char* what) const;
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  template <class F>
  void visit(const std::string& prefix, F&& f) const;

  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent;
  };
  std::vector<std::pair<std::string, Parameter>> params_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::unique_ptr<HookPoint>>> hooks_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

/// An ordered list of modules named "0", "1", ... (so a stack of blocks gets "blocks.3.*").
class ModuleList : public Module {
 public:
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    return register_module(std::to_string(size()), std::move(m));
  }
  size_t size() const { return named_children().size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const;
  /// The i-th module as its concrete type (throws if it is not an M).
  template <class M>
  std::shared_ptr<M> at(size_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    KILN_CHECK(m, "ModuleList::at: module ", i, " is not of the requested type");
    return m;
  }
};

}  // namespace kiln::nn
