// kiln spec check FILE | dump FILE: validate a spec, or print it resolved (defaults filled) as
// JSON. A dumped spec checks and dumps back to the same Config.
#include <iostream>

#include "cli/command.h"
#include "dsl/spec.h"

namespace kiln::cli {

int run_spec(const std::vector<std::string>& args) {
  po::options_description opts("spec options");
  opts.add_options()("action", po::value<std::string>(), "check or dump")(
      "file", po::value<std::string>(), "the spec (.lua, or a .json a run wrote)")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a field: path=value (repeatable)");
  po::positional_options_description pos;
  pos.add("action", 1).add("file", 1);
  po::variables_map vm;
  if (parse(args, opts, pos, vm, "kiln spec check|dump FILE [--set path=value ...]", "kiln spec dump models/gpt2.lua --set model.n_layers=6"))
    return 0;
  if (!vm.count("action") || !vm.count("file"))
    throw po::error("expected an action (check or dump) and a spec file");
  std::string action = vm["action"].as<std::string>(), file = vm["file"].as<std::string>();
  dsl::SpecOptions so;
  if (vm.count("set")) so.overrides = vm["set"].as<std::vector<std::string>>();
  if (action == "check") {
    dsl::load_spec(file, so);
    std::cout << file << ": ok\n";
    return 0;
  }
  if (action == "dump") {
    std::cout << dsl::load_spec(file, so).to_json(true) << "\n";
    return 0;
  }
  throw po::error("unknown action \"" + action + "\" (expected check or dump)");
}

}  // namespace kiln::cli
