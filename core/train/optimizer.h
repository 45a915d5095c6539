// The Optimizer interface: parameter groups with their own hyperparameters, a step that
// updates parameters in place from their gradients, and a state that checkpoints exactly.
//
// Concrete optimizers (SGD, AdamW, Lion) live in plugins/optimizers. Each implements update()
// for one parameter on raw pointers; the base class does the bookkeeping: groups and their
// defaults, which parameters have gradients, per-parameter step counts, master copies of
// bf16/f16 parameters, and the state dict.
//
// Precision: optimizer state is f64 for f64 parameters and f32 for every other dtype. A bf16 or
// f16 parameter is updated through an f32 master copy kept in its state ("master"): the update
// is applied to the master and the parameter is its rounding, so small updates accumulate
// instead of vanishing below the half-precision resolution.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor/tensor.h"

namespace kiln::train {

/// Parameters that share hyperparameters. Unset fields take the optimizer's defaults.
/// `options` overrides the optimizer's own options by name (AdamW's "beta1", SGD's
/// "momentum", ...); an unknown name is an error that lists the known ones.
struct ParamGroup {
  std::vector<Tensor> params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
  std::map<std::string, double> options;
};

/// What an optimizer keeps for one parameter: its update count and named tensors.
struct ParamState {
  int64_t step = 0;
  std::map<std::string, Tensor> tensors;
};

/// Name -> tensor, as state_dict() returns and safetensors files hold.
using TensorDict = std::map<std::string, Tensor>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& name() const { return name_; }

  /// Updates every parameter that has a gradient, in place, with grad mode off. Parameters
  /// without a gradient are skipped and their step count does not advance (as PyTorch).
  void step();
  /// Drops every parameter's gradient (as PyTorch's set_to_none).
  void zero_grad();
  /// Number of step() calls so far (also restored by load_state_dict).
  int64_t steps() const { return steps_; }

  size_t num_groups() const { return groups_.size(); }
  /// Group i with every field resolved: lr, weight_decay and all options are set.
  const ParamGroup& group(size_t i) const;
  double lr(size_t group = 0) const { return *this->group(group).lr; }
  /// Sets the lr of every group / of one group.
  void set_lr(double lr);
  void set_lr(size_t group, double lr);
  /// Sets each group's lr to the lr it was constructed with times m (how a Schedule drives
  /// the optimizer, so groups with different lrs keep their ratio).
  void set_lr_multiplier(double m);

  /// The state as flat named tensors, ready to be written as safetensors: "step" (i64 0-d, the
  /// step() count) and, for parameter i (numbered through the groups in order) that has been
  /// updated, "state.<i>.step" (i64 0-d) and "state.<i>.<name>" per state tensor. The tensors
  /// share the optimizer's memory: write them out (or clone them) before the next step().
  /// Hyperparameters are not included: they come from the constructor and the schedule.
  TensorDict state_dict() const;
  /// Restores a state_dict() (copying the tensors). Every problem (unknown or missing keys,
  /// shapes, dtypes) is reported in one Error and nothing is changed.
  void load_state_dict(const TensorDict& dict);

  /// The dtype state is kept in for parameter p: f64 for f64 parameters, f32 otherwise.
  static DType state_dtype(const Tensor& p) {
    return p.dtype() == DType::f64 ? DType::f64 : DType::f32;
  }
  /// True when p is updated through an f32 master copy (bf16 and f16 parameters).
  static bool has_master(const Tensor& p) {
    return p.dtype() == DType::bf16 || p.dtype() == DType::f16;
  }

 protected:
  /// `option_defaults` names every option the optimizer has and gives its default value.
  Optimizer(std::string name, std::vector<ParamGroup> groups, double lr, double weight_decay,
            std::map<std::string, double> option_defaults);

  /// Creates the state tensors of p before its first update (the base adds "master").
  virtual void init_state(const ParamGroup& g, const Tensor& p, ParamState& s) = 0;
  /// Names of the state tensors init_state creates for p (each has p's shape and state_dtype).
  virtual std::vector<std::string> state_names(const ParamGroup& g, const Tensor& p) const = 0;
  /// Updates p from grad (contiguous, p's shape and dtype). s.step already counts this update.
  virtual void update(const ParamGroup& g, const Tensor& p, const Tensor& grad, ParamState& s) = 0;

  /// The value of a group's option (always present after construction).
  static double option(const ParamGroup& g, const std::string& key);
  /// Throws unless lo <= v <= hi (hi_open: v < hi), naming the optimizer, group and option.
  void check_option(size_t group, const std::string& key, double lo, double hi,
                    bool hi_open = false) const;

 private:
  std::vector<std::string> all_state_names(const ParamGroup& g, const Tensor& p) const;

  std::string name_;
  std::vector<ParamGroup> groups_;
  std::vector<double> base_lrs_;
  std::vector<std::vector<ParamState>> state_;  // [group][param]
  int64_t steps_ = 0;
};

/// What an "optimizer" component is: the spec gives hyperparameters before the model exists,
/// so the registry makes a factory, and the trainer makes the optimizer once it has the
/// parameter groups.
class OptimizerFactory {
 public:
  virtual ~OptimizerFactory();
  virtual std::unique_ptr<Optimizer> make(std::vector<ParamGroup> groups) const = 0;
};

}  // namespace kiln::train
