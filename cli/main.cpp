// kiln: the command-line program. Exit codes: 0 success, 1 user error (a bad spec, a missing
// file, an invalid option; one clear paragraph, no stack trace), 2 internal error.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "core/base/error.h"

namespace kiln::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> cmds = {
      {"train", "train the model a spec declares", run_train},
      {"eval", "evaluate a run (perplexity, MMLU, BBH, AGIEval)", run_eval},
      {"generate", "sample text from a run", run_generate},
      {"export", "write a run's model as a Hugging Face checkpoint", run_export},
      {"probe", "look inside a run's model (logit lens, patching, ...)", run_probe},
      {"data", "prepare data (tokenize into shards)", run_data},
      {"plugins", "list the components plugins provide, or describe one", run_plugins},
      {"spec", "check a spec, or print it resolved as JSON", run_spec},
      {"version", "print the version, ABI and build options", run_version},
  };
  return cmds;
}

bool parse(const std::vector<std::string>& args, const po::options_description& opts,
           const po::positional_options_description& pos, po::variables_map& vm, const std::string& usage,
           const std::string& example) {
  po::options_description all;
  all.add_options()("help,h", "show this help");
  all.add(opts);
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: " << usage << "\n\n" << all << "\nexample:\n  " << example << "\n";
    return true;
  }
  po::notify(vm);
  return false;
}

void not_yet(const std::string& command, const std::string& what) {
  throw Error("kiln " + command + ": " + what);
}

namespace {

void print_help() {
  std::cout << "kiln: a framework for language-model research\n\n"
               "usage: kiln <command> [options]   (kiln <command> --help for each)\n\ncommands:\n";
  for (const Command& c : commands()) std::printf("  %-10s %s\n", c.name, c.summary);
  std::cout << "\nexamples:\n"
               "  kiln spec check models/gpt2-char.lua\n"
               "  kiln plugins describe adamw\n";
}

}  // namespace
}  // namespace kiln::cli

int main(int argc, char** argv) {
  using namespace kiln::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help();
    return args.empty() ? 1 : 0;
  }
  std::string name = args[0];
  if (name == "--version") name = "version";
  args.erase(args.begin());
  for (const Command& c : commands()) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const kiln::Error& e) {
      std::cerr << "kiln " << name << ": " << e.what() << "\n";
      return 1;
    } catch (const boost::program_options::error& e) {
      std::cerr << "kiln " << name << ": " << e.what() << " (kiln " << name << " --help shows the options)\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "kiln " << name << ": internal error: " << e.what() << "\n";
      return 2;
    }
  }
  std::cerr << "kiln: unknown command \"" << name << "\" (kiln --help lists them)\n";
  return 1;
}
