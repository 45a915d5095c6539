// kiln train SPEC [--set path=value ...] [--out DIR] [--resume]: trains the model a spec
// declares, writing a run directory (spec.json, metrics.jsonl, checkpoints/, the tokenizer).
// SPEC may also be a run directory (or its spec.json): the run continues from its latest
// checkpoint. Exit codes: 0 done, 1 bad input (nothing written), 128 + signal when SIGINT or
// SIGTERM stopped it (after saving a checkpoint).
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "core/registry/plugin.h"
#include "core/train/trainer.h"
#include "dsl/hf_checkpoint.h"
#include "dsl/spec.h"

namespace kiln::cli {

namespace {

namespace fs = std::filesystem;

// Plugin paths made absolute, as the DSL resolved them (beside the spec, else from the working
// directory), so that the run's spec.json finds them from anywhere.
void absolute_plugins(Config& spec, const std::string& spec_path) {
  if (!spec.has("plugins") || !spec.at("plugins").is_list()) return;
  Config& list = spec.at("plugins");
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].type() != Config::Type::string) continue;
    fs::path p(list[i].as_string());
    if (p.is_absolute()) continue;
    std::error_code ec;
    fs::path beside = fs::path(spec_path).parent_path() / p;
    fs::path chosen = fs::exists(beside, ec) ? beside : fs::absolute(p, ec);
    SourceLoc loc = list[i].loc();
    list[i] = Config(fs::weakly_canonical(chosen, ec).string());
    list[i].set_loc(loc);
  }
}

// A run directory given as SPEC, or the spec.json of one: (its spec.json, the directory).
std::pair<std::string, std::string> run_dir_spec(const std::string& arg) {
  std::error_code ec;
  if (fs::is_directory(arg, ec)) {
    fs::path spec = fs::path(arg) / "spec.json";
    KILN_CHECK(fs::is_regular_file(spec, ec), arg,
               ": a directory without spec.json is not a run to continue");
    return {spec.string(), arg};
  }
  fs::path p(arg);
  if (p.filename() == "spec.json" && fs::is_directory(p.parent_path() / "checkpoints", ec))
    return {arg, p.parent_path().empty() ? "." : p.parent_path().string()};
  return {arg, ""};
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  po::options_description opts("train options");
  opts.add_options()("spec", po::value<std::string>(),
                     "the spec (.lua or .json), or a run directory to continue")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a field: path=value (repeatable)")(
      "out", po::value<std::string>(),
      "the run directory (default: the spec's `out`, else runs/<spec name>)")(
      "resume", po::bool_switch(),
      "continue from the run directory's latest checkpoint (an error when it has none); a run "
      "directory with checkpoints is continued even without it");
  po::positional_options_description pos;
  pos.add("spec", 1);
  po::variables_map vm;
  if (parse(args, opts, pos, vm, "kiln train SPEC [--set path=value ...] [--out DIR] [--resume]",
            "kiln train models/gpt2-char.lua --set train.steps=500 --out runs/a"))
    return 0;
  if (!vm.count("spec")) throw po::error("expected a spec file (or a run directory)");
  auto [spec_path, run_dir] = run_dir_spec(vm["spec"].as<std::string>());

  dsl::SpecOptions so;
  if (vm.count("set")) so.overrides = vm["set"].as<std::vector<std::string>>();
  Config spec = dsl::load_spec(spec_path, so);
  absolute_plugins(spec, spec_path);

  std::string out;
  if (vm.count("out"))
    out = vm["out"].as<std::string>();
  else if (const Config* o = spec.find("out"); o && o->type() == Config::Type::string)
    out = o->as_string();
  else if (!run_dir.empty())
    out = run_dir;
  else
    out = (fs::path("runs") / fs::path(spec_path).stem()).string();
  spec.set("out", Config(out));

  train::TrainerOptions to;
  to.out = out;
  to.require_resume = vm["resume"].as<bool>();
  to.read_init = hf::read_start_weights;
  train::Trainer trainer(std::move(spec), to);
  train::TrainResult r = trainer.run();
  return r.signal != 0 ? 128 + r.signal : 0;
}

}  // namespace kiln::cli
