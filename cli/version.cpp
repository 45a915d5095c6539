#include <iostream>

#include "cli/command.h"
#include "core/registry/plugin.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

namespace kiln::cli {

int run_version(const std::vector<std::string>& args) {
  po::options_description opts("version options");
  po::variables_map vm;
  if (parse(args, opts, {}, vm, "kiln version", "kiln version")) return 0;
  std::cout << "kiln " << KILN_VERSION << "\nplugin ABI " << kAbiVersion << "\ncompiler " << KILN_COMPILER_TAG
            << "\ncuda " <<
#ifdef KILN_HAS_CUDA
      "yes"
#else
      "no"
#endif
            << "\n";
  return 0;
}

}  // namespace kiln::cli
