#include "core/nn/module.h"

#include <set>
#include <sstream>

#include "core/autograd/autograd.h"

namespace kiln::nn {

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Points every handle of t at `src`'s data: the TensorImpl is shared by every copy of the
// handle, so replacing its storage and geometry converts them all at once.
void replace_data(const Tensor& t, const Tensor& src) {
  TensorImpl* impl = t.impl();
  impl->storage = src.storage();
  impl->shape = src.shape();
  impl->strides = src.strides();
  impl->offset = src.offset();
  impl->dtype = src.dtype();
}

template <class Convert>
void convert_in_place(const Tensor& t, Convert&& convert) {
  replace_data(t, convert(t.detach()).contiguous());
  if (Tensor g = t.grad(); g.defined()) t.impl()->grad = convert(g).contiguous().impl_ptr();
}

}  // namespace

// A tensor that already is a parameter stays the same one, so that registering it under a
// second name ties the two (GPT-2's token embedding and output head).
Parameter::Parameter(const Tensor& t)
    : Tensor(t.requires_grad() && t.is_leaf() && t.is_contiguous() ? t : t.detach().contiguous()) {
  KILN_CHECK(is_floating(dtype()), "Parameter: only floating tensors can be trained, got ",
             dtype_name(dtype()), " with shape ", shape());
  requires_grad_(true);
}

// ---- registration ---------------------------------------------------------------------------

void Module::check_new_name(const std::string& name, const char* what) const {
  KILN_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module: ", what, " name '",
             name, "' must be non-empty and contain no '.'");
  bool taken = false;
  for (const auto& [n, p] : params_) taken |= n == name;
  for (const auto& b : buffers_) taken |= b.name == name;
  for (const auto& [n, c] : children_) taken |= n == name;
  for (const auto& [n, h] : hooks_) taken |= n == name;
  KILN_CHECK(!taken, "Module: cannot register ", what, " '", name,
             "': the name is already used by a parameter, buffer, hook point or child of this module");
}

Parameter Module::register_parameter(const std::string& name, const Tensor& t) {
  check_new_name(name, "parameter");
  KILN_CHECK(t.defined(), "Module: parameter '", name, "' is an undefined tensor");
  params_.emplace_back(name, Parameter(t));
  return params_.back().second;
}

Tensor Module::register_buffer(const std::string& name, const Tensor& t, bool persistent) {
  check_new_name(name, "buffer");
  KILN_CHECK(t.defined(), "Module: buffer '", name, "' is an undefined tensor");
  buffers_.push_back({name, t.detach(), persistent});
  return buffers_.back().tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name, "module");
  KILN_CHECK(m != nullptr, "Module: child module '", name, "' is null");
  children_.emplace_back(name, std::move(m));
}

const std::shared_ptr<Module>& ModuleList::operator[](size_t i) const {
  KILN_CHECK(i < size(), "ModuleList: index ", i, " out of range for a list of ", size());
  return named_children()[i].second;
}

// ---- traversal ------------------------------------------------------------------------------

template <class F>
void Module::visit(const std::string& prefix, F&& f) const {
  f(prefix, *this);
  for (const auto& [name, child] : children_) child->visit(join(prefix, name), f);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  std::set<const TensorImpl*> seen;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, p] : m.params_)
      if (seen.insert(p.impl()).second) out.emplace_back(join(prefix, name), p);
  });
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& b : m.buffers_) out.emplace_back(join(prefix, b.name), b.tensor);
  });
  return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  visit("", [&](const std::string& prefix, const Module& m) { out.emplace_back(prefix, &m); });
  return out;
}

HookPoint& Module::register_hook(const std::string& name) {
  check_new_name(name, "hook point");
  hooks_.emplace_back(name, std::make_unique<HookPoint>());
  return *hooks_.back().second;
}

std::vector<std::pair<std::string, HookPoint*>> Module::named_hook_points() const {
  std::vector<std::pair<std::string, HookPoint*>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, h] : m.hooks_) {
      h->name_ = join(prefix, name);
      out.emplace_back(h->name_, h.get());
    }
  });
  return out;
}

HookPoint& Module::hook_point(const std::string& name) const {
  std::vector<std::string> names;
  for (auto& [n, h] : named_hook_points()) {
    if (n == name) return *h;
    names.push_back(n);
  }
  std::string best;
  size_t best_score = 0;
  for (const std::string& n : names) {  // the longest common suffix is the likeliest intent
    size_t k = 0;
    while (k < n.size() && k < name.size() && n[n.size() - 1 - k] == name[name.size() - 1 - k]) ++k;
    if (k > best_score) best_score = k, best = n;
  }
  KILN_FAIL("no hook point named \"", name, "\"", best.empty() ? "" : " (closest: \"" + best + "\")", "; the model has ",
            names.size(), " hook points");
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

// ---- state ----------------------------------------------------------------------------------

StateDict Module::state_dict() const {
  StateDict out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, p] : m.params_) out[join(prefix, name)] = p.detach();
    for (const auto& b : m.buffers_)
      if (b.persistent) out[join(prefix, b.name)] = b.tensor.detach();
  });
  return out;
}

void Module::load_state_dict(const StateDict& dict, bool strict) {
  StateDict own = state_dict();
  std::vector<std::string> problems;
  auto describe = [](const Tensor& t) {
    return str_cat("shape ", t.shape(), " ", dtype_name(t.dtype()));
  };
  for (const auto& [name, dst] : own) {
    auto it = dict.find(name);
    if (it == dict.end()) {
      if (strict) problems.push_back(str_cat("missing key '", name, "' (", describe(dst), ")"));
      continue;
    }
    const Tensor& src = it->second;
    if (!src.defined()) {
      problems.push_back(str_cat("key '", name, "' holds an undefined tensor"));
    } else if (src.shape() != dst.shape() || src.dtype() != dst.dtype()) {
      problems.push_back(str_cat("key '", name, "': ", describe(src), " in the dict, ",
                                 describe(dst), " in the module"));
    }
  }
  if (strict) {
    for (const auto& [name, src] : dict)
      if (!own.count(name))
        problems.push_back(str_cat("unexpected key '", name, "'",
                                   src.defined() ? " (" + describe(src) + ")" : ""));
  }
  if (!problems.empty()) {
    std::ostringstream os;
    os << "load_state_dict: " << problems.size()
       << (problems.size() == 1 ? " problem" : " problems") << " (nothing was loaded):";
    for (const auto& p : problems) os << "\n  " << p;
    throw Error(os.str());
  }
  autograd::NoGrad no_grad;
  for (auto& [name, dst] : own) {
    auto it = dict.find(name);
    if (it != dict.end()) dst.copy_(it->second);
  }
}

void Module::zero_grad() {
  for (auto& [name, p] : named_parameters()) p.set_grad(Tensor());
}

void Module::to(DType dtype) {
  KILN_CHECK(is_floating(dtype), "Module::to: parameters must stay floating, got ",
             dtype_name(dtype));
  autograd::NoGrad no_grad;
  auto convert = [dtype](const Tensor& t) { return t.to(dtype); };
  visit("", [&](const std::string&, const Module& m) {
    for (const auto& [name, p] : m.params_)
      if (is_floating(p.dtype())) convert_in_place(p, convert);
    for (const auto& b : m.buffers_)
      if (is_floating(b.tensor.dtype())) convert_in_place(b.tensor, convert);
  });
}

void Module::to(Device device) {
  autograd::NoGrad no_grad;
  auto convert = [device](const Tensor& t) { return t.to(device); };
  visit("", [&](const std::string&, const Module& m) {
    for (const auto& [name, p] : m.params_) convert_in_place(p, convert);
    for (const auto& b : m.buffers_) convert_in_place(b.tensor, convert);
  });
}

}  // namespace kiln::nn
