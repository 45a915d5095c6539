// The kiln program's subcommands: one file each, sharing option parsing and error handling.
#pragma once

#include <boost/program_options.hpp>

#include <functional>
#include <string>
#include <vector>

namespace kiln::cli {

namespace po = boost::program_options;

struct Command {
  const char* name;
  const char* summary;  ///< one line for `kiln --help`
  std::function<int(const std::vector<std::string>& args)> run;
};

/// Every subcommand, in the order `kiln --help` lists them.
const std::vector<Command>& commands();

/// Parses args with the given options (and positionals); prints usage and returns true when
/// --help was asked. Throws po::error on bad options.
bool parse(const std::vector<std::string>& args, const po::options_description& opts,
           const po::positional_options_description& pos, po::variables_map& vm, const std::string& usage,
           const std::string& example);

/// Thrown by a subcommand that exists but whose capability a later piece of work brings.
[[noreturn]] void not_yet(const std::string& command, const std::string& what);

int run_train(const std::vector<std::string>& args);
int run_eval(const std::vector<std::string>& args);
int run_export(const std::vector<std::string>& args);
int run_generate(const std::vector<std::string>& args);
int run_probe(const std::vector<std::string>& args);
int run_data(const std::vector<std::string>& args);
int run_plugins(const std::vector<std::string>& args);
int run_spec(const std::vector<std::string>& args);
int run_version(const std::vector<std::string>& args);

}  // namespace kiln::cli
