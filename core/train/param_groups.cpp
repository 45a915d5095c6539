#include "core/train/param_groups.h"

namespace kiln::train {

DecaySplit split_weight_decay(const std::vector<std::pair<std::string, Tensor>>& params,
                              const std::vector<std::string>& no_decay_patterns,
                              bool decay_vectors) {
  DecaySplit out;
  for (const auto& [name, p] : params) {
    bool exempt = !decay_vectors && p.dim() <= 1;
    for (const std::string& pat : no_decay_patterns)
      exempt = exempt || (!pat.empty() && name.find(pat) != std::string::npos);
    (exempt ? out.no_decay : out.decay).emplace_back(name, p);
  }
  return out;
}

std::vector<ParamGroup> weight_decay_groups(const DecaySplit& split) {
  std::vector<ParamGroup> groups;
  if (!split.decay.empty()) {
    ParamGroup g;
    for (const auto& [n, p] : split.decay) g.params.push_back(p);
    groups.push_back(std::move(g));
  }
  if (!split.no_decay.empty()) {
    ParamGroup g;
    for (const auto& [n, p] : split.no_decay) g.params.push_back(p);
    g.weight_decay = 0.0;
    groups.push_back(std::move(g));
  }
  return groups;
}

}  // namespace kiln::train
