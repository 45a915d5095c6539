#include "core/train/init_weights.h"

#include <filesystem>

#include "core/base/error.h"
#include "core/train/checkpoint.h"
#include "core/train/run_dir.h"

namespace kiln::train {

namespace fs = std::filesystem;

nn::StateDict read_init_weights(const std::string& ref) {
  std::error_code ec;
  KILN_CHECK(fs::is_directory(ref, ec), "\"", ref,
             "\" is not a directory (expected a run directory, a checkpoint directory or "
             "hf:DIR)");
  std::string checkpoint = ref;
  if (!fs::exists(fs::path(ref) / "model.safetensors", ec)) {
    RunDir run(ref);
    std::optional<CheckpointRef> latest = latest_checkpoint(run.checkpoints());
    KILN_CHECK(latest, "\"", ref, "\" holds neither model.safetensors nor a run's ",
               "checkpoints (", run.checkpoints(), " has none)");
    checkpoint = latest->path;
  }
  return read_checkpoint(checkpoint, /*with_optimizer=*/false).model;
}

namespace {

// The weights under `prefix`, if every one of them names a tensor of `own`.
bool all_named(const nn::StateDict& weights, const nn::StateDict& own, const std::string& prefix) {
  for (const auto& [name, t] : weights)
    if (!own.count(prefix + name)) return false;
  return !weights.empty();
}

}  // namespace

InitReport load_init_weights(nn::Module& model, const nn::StateDict& weights) {
  const nn::StateDict own = model.state_dict();
  InitReport report;
  if (!all_named(weights, own, "") && all_named(weights, own, "model.")) report.prefix = "model.";
  nn::StateDict named;
  for (const auto& [name, t] : weights) named.emplace(report.prefix + name, t);
  try {
    // Strict when the names match as they are: a model of another shape fails loudly, naming
    // every difference. Into a wrapper, only the wrapped model's names must all be present.
    model.load_state_dict(named, /*strict=*/report.prefix.empty());
  } catch (const Error& e) {
    KILN_FAIL("the weights do not fit the spec's model: ", e.what());
  }
  for (const auto& [name, t] : own)
    if (!named.count(name)) report.fresh.push_back(name);
  report.loaded = int64_t(named.size());
  return report;
}

}  // namespace kiln::train
