#include "plugins/probes/ablation.h"

#include "core/nn/hooks.h"
#include "core/ops/reduce.h"
#include "plugins/probes/common.h"

namespace kiln::probes {
namespace {

// The hook that ablates slice `index` of dimension `dim` of an activation cached in `cache`.
nn::HookFn ablate(const nn::ActivationCache& cache, const std::string& hook, int64_t dim,
                  int64_t index, int64_t length, bool mean) {
  Tensor fill;
  if (mean) fill = ops::mean(cache.at(hook), {0, 1}, /*keepdim=*/true).narrow(dim, index, length);
  return nn::ablate_slice(dim, index, length, fill);
}

double loss_with(nn::Model& model, const Tensor& tokens, const AblationOptions& o) {
  return next_token_loss(forward_logits(model, tokens), tokens, o.loss_from, o.loss_to);
}

nn::ActivationCache reference_cache(nn::Model& model, const Tensor& tokens) {
  return nn::run_with_cache(model, tokens,
                            [](const std::string& n) {
                              return nn::names_ending(".attn.hook_z")(n) ||
                                     nn::names_ending(".hook_mlp_out")(n);
                            })
      .cache;
}

}  // namespace

AblationResult ablation(nn::Model& model, const Tensor& tokens, const AblationOptions& o) {
  KILN_CHECK(tokens.dim() == 2 && tokens.size(1) >= 2,
             "ablation: expected tokens [B, T] with T >= 2, got ", tokens.shape());
  AblationResult r;
  r.layers = count_layers(model);
  r.base_loss = loss_with(model, tokens, o);
  const nn::ActivationCache cache = reference_cache(model, tokens);
  if (has_hook(model, block_hook(0, "attn.hook_z"))) {
    r.heads = cache.at(block_hook(0, "attn.hook_z")).size(2);
    for (int64_t l = 0; l < r.layers; ++l)
      for (int64_t h = 0; h < r.heads; ++h) {
        const std::string hook = block_hook(l, "attn.hook_z");
        nn::Hooks hooks(model);
        hooks.add(hook, ablate(cache, hook, 2, h, 1, o.mean));
        r.head_loss.push_back(loss_with(model, tokens, o));
      }
  }
  if (has_hook(model, block_hook(0, "hook_mlp_out")))
    for (int64_t l = 0; l < r.layers; ++l) {
      const std::string hook = block_hook(l, "hook_mlp_out");
      const int64_t d = cache.at(hook).size(2);
      nn::Hooks hooks(model);
      hooks.add(hook, ablate(cache, hook, 2, 0, d, o.mean));
      r.mlp_loss.push_back(loss_with(model, tokens, o));
    }
  return r;
}

double ablated_loss(nn::Model& model, const Tensor& tokens,
                    const std::vector<std::pair<int64_t, int64_t>>& heads,
                    const AblationOptions& o) {
  const nn::ActivationCache cache = reference_cache(model, tokens);
  nn::Hooks hooks(model);
  for (const auto& [l, h] : heads) {
    const std::string hook = block_hook(l, "attn.hook_z");
    KILN_CHECK(cache.count(hook), "ablation: the model has no hook point ", hook);
    hooks.add(hook, ablate(cache, hook, 2, h, 1, o.mean));
  }
  return loss_with(model, tokens, o);
}

}  // namespace kiln::probes
