// Subcommands that exist now and are filled in by later work; each says what is missing.
#include "cli/command.h"

namespace kiln::cli {
namespace {

int placeholder(const std::vector<std::string>& args, const std::string& name, const std::string& usage,
                const std::string& example, const std::string& missing) {
  po::options_description opts(name + " options");
  po::variables_map vm;
  po::positional_options_description pos;
  opts.add_options()("args", po::value<std::vector<std::string>>(), "arguments");
  pos.add("args", -1);
  if (parse(args, opts, pos, vm, usage, example)) return 0;
  not_yet(name, missing);
}

}  // namespace

int run_probe(const std::vector<std::string>& args) {
  return placeholder(args, "probe", "kiln probe RUN_DIR PROBE [options]",
                     "kiln probe runs/a logit_lens --prompt \"The capital of France is\"",
                     "probing is not available yet: the probes (logit lens, linear probes, patching) are not built");
}

}  // namespace kiln::cli
