// kiln spec check FILE | dump FILE: validate a spec, or print it resolved (defaults filled) as
// JSON. A dumped spec checks and dumps back to the same Config. Both build the spec's model and
// report its parameter count on stderr, so that a spec that validates but cannot be built
// (shapes that do not fit) fails here too.
#include <iostream>
#include <string>

#include "cli/command.h"
#include "core/nn/init.h"
#include "core/nn/model.h"
#include "core/registry/registry.h"
#include "dsl/spec.h"

namespace kiln::cli {
namespace {

// 124439808 -> "124,439,808".
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void report_model(const Config& spec) {
  const Config* model = spec.find("model");
  if (!model || model->is_null()) return;
  nn::init::SkipRandomInit shapes_only;  // the count needs the shapes, not the values
  auto m = Registry::global().create<nn::Model>(*model);
  std::cerr << "model: " << with_commas(m->num_parameters()) << " parameters\n";
}

}  // namespace

int run_spec(const std::vector<std::string>& args) {
  po::options_description opts("spec options");
  opts.add_options()("action", po::value<std::string>(), "check or dump")(
      "file", po::value<std::string>(), "the spec (.lua, or a .json a run wrote)")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a field: path=value (repeatable)");
  po::positional_options_description pos;
  pos.add("action", 1).add("file", 1);
  po::variables_map vm;
  if (parse(args, opts, pos, vm, "kiln spec check|dump FILE [--set path=value ...]",
            "kiln spec dump models/gpt2.lua --set model.n_layers=6"))
    return 0;
  if (!vm.count("action") || !vm.count("file"))
    throw po::error("expected an action (check or dump) and a spec file");
  std::string action = vm["action"].as<std::string>(), file = vm["file"].as<std::string>();
  dsl::SpecOptions so;
  if (vm.count("set")) so.overrides = vm["set"].as<std::vector<std::string>>();
  if (action == "check") {
    Config spec = dsl::load_spec(file, so);
    report_model(spec);
    std::cout << file << ": ok\n";
    return 0;
  }
  if (action == "dump") {
    Config spec = dsl::load_spec(file, so);
    report_model(spec);
    std::cout << spec.to_json(true) << "\n";
    return 0;
  }
  throw po::error("unknown action \"" + action + "\" (expected check or dump)");
}

}  // namespace kiln::cli
