#include "plugins/probes/patching.h"

#include <cmath>

#include "core/nn/hooks.h"
#include "plugins/probes/common.h"

namespace kiln::probes {

double logit_difference(const Tensor& logits, const std::vector<int64_t>& answer,
                        const std::vector<int64_t>& wrong) {
  const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  KILN_CHECK(int64_t(answer.size()) == B && int64_t(wrong.size()) == B, "activation_patching: ", B,
             " prompt pairs but ", answer.size(), " answers and ", wrong.size(), " wrong answers");
  const std::vector<double> last =
      logits.narrow(1, T - 1, 1).to(DType::f64).contiguous().to_vector<double>();
  double sum = 0;
  for (int64_t b = 0; b < B; ++b) {
    KILN_CHECK(answer[size_t(b)] >= 0 && answer[size_t(b)] < V && wrong[size_t(b)] >= 0 &&
                   wrong[size_t(b)] < V,
               "activation_patching: answer tokens (", answer[size_t(b)], ", ", wrong[size_t(b)],
               ") outside the vocabulary of ", V);
    sum += last[size_t(b * V + answer[size_t(b)])] - last[size_t(b * V + wrong[size_t(b)])];
  }
  return sum / double(B);
}

PatchingResult activation_patching(nn::Model& model, const PatchingInput& in) {
  KILN_CHECK(in.clean.dim() == 2 && in.clean.shape() == in.corrupted.shape(),
             "activation_patching: clean and corrupted prompts must have one shape [B, T] (token ",
             "by token counterparts), got ", in.clean.shape(), " and ", in.corrupted.shape());
  const int64_t L = count_layers(model), T = in.clean.size(1);
  // Only what is patched: a hook on the pattern would switch attention to its unfused form.
  auto wanted = [](const std::string& n) {
    for (const char* s : {".hook_resid_pre", ".hook_attn_out", ".hook_mlp_out", ".attn.hook_z"})
      if (nn::names_ending(s)(n)) return true;
    return false;
  };
  nn::CacheRun clean = nn::run_with_cache(model, in.clean, wanted);
  PatchingResult r;
  r.layers = L;
  r.positions = T;
  r.clean_ld = logit_difference(clean.logits, in.answer, in.wrong);
  r.corrupted_ld = logit_difference(forward_logits(model, in.corrupted), in.answer, in.wrong);
  const double span = r.clean_ld - r.corrupted_ld;
  KILN_CHECK(std::abs(span) > 1e-9,
             "activation_patching: the clean and corrupted prompts give the same ",
             "logit difference (", r.clean_ld, "): nothing to restore");
  auto metric = [&](const std::string& hook, nn::HookFn fn) {
    nn::Hooks hooks(model);
    hooks.add(hook, std::move(fn));
    return (logit_difference(forward_logits(model, in.corrupted), in.answer, in.wrong) -
            r.corrupted_ld) /
           span;
  };
  auto per_position = [&](const std::string& suffix, std::vector<double>& out) {
    if (!has_hook(model, block_hook(0, suffix))) return;
    for (int64_t l = 0; l < L; ++l) {
      const std::string hook = block_hook(l, suffix);
      for (int64_t t = 0; t < T; ++t)
        out.push_back(metric(hook, nn::patch_slice(clean.cache.at(hook), 1, t)));
    }
  };
  per_position("hook_resid_pre", r.resid);
  per_position("hook_attn_out", r.attn_out);
  per_position("hook_mlp_out", r.mlp_out);
  if (has_hook(model, block_hook(0, "attn.hook_z"))) {
    r.heads = clean.cache.at(block_hook(0, "attn.hook_z")).size(2);
    for (int64_t l = 0; l < L; ++l) {
      const std::string hook = block_hook(l, "attn.hook_z");
      for (int64_t h = 0; h < r.heads; ++h)
        r.z.push_back(metric(hook, nn::patch_slice(clean.cache.at(hook), 2, h)));
    }
  }
  return r;
}

}  // namespace kiln::probes
