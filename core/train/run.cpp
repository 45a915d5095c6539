#include "core/train/run.h"

#include <filesystem>

#include "core/registry/plugin.h"
#include "core/registry/registry.h"
#include "core/train/checkpoint.h"
#include "core/train/run_dir.h"

namespace kiln::train {

LoadedRun load_run(const std::string& dir, const LoadRunOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  KILN_CHECK(fs::is_directory(dir, ec), dir, ": no such run directory");
  RunDir run(dir);
  LoadedRun out;
  out.dir = dir;
  out.spec = run.read_spec();
  if (options.edit_spec) options.edit_spec(out.spec);
  KILN_CHECK(out.spec.is_table() && out.spec.has("model") && out.spec.has("data"), run.spec_path(),
             ": not a run's spec (it needs a model and data)");

  load_default_plugins();
  if (const Config* p = out.spec.find("plugins"); p && p->is_list())
    for (const Config& item : p->items()) load_plugin(item.as_string());

  Registry& reg = Registry::global();
  out.model = reg.create<nn::Model>(out.spec.at("model"));
  out.dataset = reg.create<data::Dataset>(out.spec.at("data"));
  out.tokenizer = out.dataset->tokenizer();
  KILN_CHECK(out.tokenizer, run.spec_path(), ": the dataset has no tokenizer");
  if (options.prepare_data) {
    data::PrepareOptions po;
    po.seed = uint64_t(out.spec.get<int64_t>("seed", 0));
    po.run_dir = dir;
    po.progress = options.progress;
    out.dataset->prepare(po);
  }
  out.tokenizer->load(run.tokenizer_dir());
  KILN_CHECK(out.tokenizer->vocab_size() <= out.model->vocab_size(), dir,
             ": the run's tokenizer has ", out.tokenizer->vocab_size(),
             " tokens but the model's vocabulary holds ", out.model->vocab_size());

  std::optional<CheckpointRef> ref;
  if (options.step < 0) {
    ref = latest_checkpoint(run.checkpoints());
    KILN_CHECK(ref, run.checkpoints(), ": the run has no checkpoint yet");
  } else {
    for (const CheckpointRef& c : list_checkpoints(run.checkpoints()))
      if (c.step == options.step) ref = c;
    KILN_CHECK(ref, run.checkpoints(), ": no checkpoint of step ", options.step);
  }
  CheckpointData data = read_checkpoint(ref->path, /*with_optimizer=*/false);
  try {
    out.model->load_state_dict(data.model, /*strict=*/true);
  } catch (const Error& e) {
    KILN_FAIL(ref->path, "/model.safetensors does not fit the run's model: ", e.what());
  }
  out.model->eval();
  out.step = ref->step;
  out.checkpoint = ref->path;
  return out;
}

}  // namespace kiln::train
