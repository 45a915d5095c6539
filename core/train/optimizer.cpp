#include "core/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "core/autograd/autograd.h"
#include "core/tensor/factory.h"

namespace kiln::train {

namespace {

std::string known_names(const std::map<std::string, double>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k;
  return s.empty() ? "(none)" : s;
}

// Parses "state.<i>.<name>" into (i, name); false for any other form.
bool parse_state_key(const std::string& key, size_t* index, std::string* name) {
  const std::string prefix = "state.";
  if (key.compare(0, prefix.size(), prefix) != 0) return false;
  size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size() || dot + 1 == key.size()) return false;
  size_t i = 0;
  for (size_t c = prefix.size(); c < dot; ++c) {
    if (key[c] < '0' || key[c] > '9' || i > (size_t(1) << 40)) return false;
    i = i * 10 + size_t(key[c] - '0');
  }
  *index = i;
  *name = key.substr(dot + 1);
  return true;
}

std::string describe(const Tensor& t) {
  return t.defined() ? str_cat("shape ", t.shape(), " ", dtype_name(t.dtype())) : "undefined";
}

}  // namespace

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups, double lr,
                     double weight_decay, std::map<std::string, double> option_defaults)
    : name_(std::move(name)), groups_(std::move(groups)) {
  KILN_CHECK(!groups_.empty(), name_, ": no parameter groups given");
  std::set<const TensorImpl*> seen;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& g = groups_[gi];
    if (!g.lr) g.lr = lr;
    if (!g.weight_decay) g.weight_decay = weight_decay;
    for (const auto& [key, value] : g.options)
      KILN_CHECK(option_defaults.count(key), name_, ": group ", gi, " sets unknown option '", key,
                 "'; the options of ", name_, " are: ", known_names(option_defaults));
    for (const auto& [key, value] : option_defaults) g.options.emplace(key, value);
    for (size_t pi = 0; pi < g.params.size(); ++pi) {
      const Tensor& p = g.params[pi];
      KILN_CHECK(p.defined(), name_, ": parameter ", pi, " of group ", gi, " is undefined");
      KILN_CHECK(is_floating(p.dtype()), name_, ": parameter ", pi, " of group ", gi, " has dtype ",
                 dtype_name(p.dtype()), "; only floating tensors can be optimized");
      KILN_CHECK(p.is_leaf(), name_, ": parameter ", pi, " of group ", gi,
                 " is not a leaf (it was computed by '", autograd::node_name(p.grad_fn()),
                 "'); optimize the tensors it was computed from");
      KILN_CHECK(p.is_contiguous(), name_, ": parameter ", pi, " of group ", gi, " (shape ",
                 p.shape(),
                 ") is not contiguous; kiln optimizers update parameters as flat arrays");
      KILN_CHECK(seen.insert(p.impl()).second, name_, ": parameter ", pi, " of group ", gi,
                 " appears more than once in the parameter groups");
    }
    base_lrs_.push_back(*g.lr);
    state_.emplace_back(g.params.size());
    check_option(gi, "lr", 0, INFINITY);
    check_option(gi, "weight_decay", 0, INFINITY);
  }
}

const ParamGroup& Optimizer::group(size_t i) const {
  KILN_CHECK(i < groups_.size(), name_, ": group ", i, " out of range (", groups_.size(),
             " groups)");
  return groups_[i];
}

void Optimizer::set_lr(double lr) {
  for (size_t i = 0; i < groups_.size(); ++i) set_lr(i, lr);
}

void Optimizer::set_lr(size_t group, double lr) {
  KILN_CHECK(group < groups_.size(), name_, ": group ", group, " out of range (", groups_.size(),
             " groups)");
  KILN_CHECK(lr >= 0 && std::isfinite(lr), name_, ": lr must be finite and >= 0, got ", lr);
  groups_[group].lr = lr;
}

void Optimizer::set_lr_multiplier(double m) {
  for (size_t i = 0; i < groups_.size(); ++i) set_lr(i, base_lrs_[i] * m);
}

double Optimizer::option(const ParamGroup& g, const std::string& key) {
  if (key == "lr") return *g.lr;
  if (key == "weight_decay") return *g.weight_decay;
  auto it = g.options.find(key);
  KILN_CHECK(it != g.options.end(), "optimizer option '", key, "' is not set");
  return it->second;
}

void Optimizer::check_option(size_t group, const std::string& key, double lo, double hi,
                             bool hi_open) const {
  double v = option(groups_[group], key);
  bool ok = v >= lo && (hi_open ? v < hi : v <= hi);
  KILN_CHECK(ok, name_, ": group ", group, " has ", key, " = ", v, "; expected a value in [", lo,
             ", ", hi, hi_open ? ")" : "]");
}

std::vector<std::string> Optimizer::all_state_names(const ParamGroup& g, const Tensor& p) const {
  std::vector<std::string> names = state_names(g, p);
  if (has_master(p)) names.push_back("master");
  return names;
}

void Optimizer::step() {
  autograd::NoGrad no_grad;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& g = groups_[gi];
    for (size_t pi = 0; pi < g.params.size(); ++pi) {
      const Tensor& p = g.params[pi];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      KILN_CHECK(p.device().is_cpu() && grad.device().is_cpu(), name_, ": parameter ", pi,
                 " of group ", gi, " is on ", p.device().str(),
                 "; only the CPU update is implemented");
      KILN_CHECK(grad.shape() == p.shape() && grad.dtype() == p.dtype(), name_,
                 ": the gradient of parameter ", pi, " of group ", gi, " (", describe(grad),
                 ") does not match the parameter (", describe(p), ")");
      ParamState& s = state_[gi][pi];
      if (s.step == 0 && s.tensors.empty()) {
        if (has_master(p)) s.tensors["master"] = p.to(DType::f32).contiguous();
        init_state(g, p, s);
      }
      ++s.step;
      update(g, p, grad.contiguous(), s);
    }
  }
  ++steps_;
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.set_grad(Tensor());
}

TensorDict Optimizer::state_dict() const {
  TensorDict out;
  out["step"] = scalar(double(steps_), DType::i64);
  size_t index = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    for (size_t pi = 0; pi < groups_[gi].params.size(); ++pi, ++index) {
      const ParamState& s = state_[gi][pi];
      if (s.step == 0 && s.tensors.empty()) continue;
      out[str_cat("state.", index, ".step")] = scalar(double(s.step), DType::i64);
      for (const auto& [name, t] : s.tensors) out[str_cat("state.", index, ".", name)] = t.detach();
    }
  }
  return out;
}

void Optimizer::load_state_dict(const TensorDict& dict) {
  // Flat index -> (group, param).
  std::vector<std::pair<size_t, size_t>> where;
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (size_t pi = 0; pi < groups_[gi].params.size(); ++pi) where.emplace_back(gi, pi);

  std::vector<std::string> problems;
  auto is_scalar_i64 = [](const Tensor& t) {
    return t.defined() && t.dim() == 0 && t.dtype() == DType::i64;
  };
  auto step_it = dict.find("step");
  if (step_it == dict.end())
    problems.push_back("missing key 'step'");
  else if (!is_scalar_i64(step_it->second))
    problems.push_back(
        str_cat("key 'step': expected a 0-d i64 tensor, got ", describe(step_it->second)));

  std::map<size_t, std::map<std::string, Tensor>> loaded;  // flat index -> name -> tensor
  for (const auto& [key, t] : dict) {
    if (key == "step") continue;
    size_t index;
    std::string name;
    if (!parse_state_key(key, &index, &name)) {
      problems.push_back(str_cat("unexpected key '", key, "'"));
    } else if (index >= where.size()) {
      problems.push_back(str_cat("key '", key, "' is for parameter ", index,
                                 " but the optimizer has ", where.size(), " parameters"));
    } else {
      loaded[index][name] = t;
    }
  }
  for (const auto& [index, tensors] : loaded) {
    auto [gi, pi] = where[index];
    const Tensor& p = groups_[gi].params[pi];
    std::vector<std::string> names = all_state_names(groups_[gi], p);
    names.push_back("step");
    for (const auto& n : names)
      if (!tensors.count(n)) problems.push_back(str_cat("missing key 'state.", index, ".", n, "'"));
    for (const auto& [n, t] : tensors) {
      std::string key = str_cat("state.", index, ".", n);
      if (n == "step") {
        if (!is_scalar_i64(t))
          problems.push_back(
              str_cat("key '", key, "': expected a 0-d i64 tensor, got ", describe(t)));
      } else if (std::find(names.begin(), names.end(), n) == names.end()) {
        problems.push_back(str_cat("unexpected key '", key, "' (", name_, " keeps no '", n,
                                   "' for a ", dtype_name(p.dtype()), " parameter)"));
      } else if (!t.defined() || t.shape() != p.shape() || t.dtype() != state_dtype(p)) {
        problems.push_back(str_cat("key '", key, "': ", describe(t),
                                   " in the dict, expected shape ", p.shape(), " ",
                                   dtype_name(state_dtype(p)), " (parameter ", index, ")"));
      }
    }
  }
  if (!problems.empty()) {
    std::ostringstream os;
    os << name_ << ".load_state_dict: " << problems.size()
       << (problems.size() == 1 ? " problem" : " problems") << " (nothing was loaded):";
    for (const auto& pr : problems) os << "\n  " << pr;
    throw Error(os.str());
  }

  autograd::NoGrad no_grad;
  for (auto& group_state : state_)
    for (auto& s : group_state) s = ParamState{};
  for (const auto& [index, tensors] : loaded) {
    auto [gi, pi] = where[index];
    ParamState& s = state_[gi][pi];
    for (const auto& [n, t] : tensors) {
      if (n == "step")
        s.step = int64_t(t.item());
      else
        s.tensors[n] = t.detach().to(groups_[gi].params[pi].device()).clone();
    }
  }
  steps_ = int64_t(step_it->second.item());
}

OptimizerFactory::~OptimizerFactory() = default;

}  // namespace kiln::train
