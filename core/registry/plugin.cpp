#include "core/registry/plugin.h"

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <sstream>

namespace kiln {
namespace {

namespace fs = std::filesystem;

struct Loaded {
  LoadedPlugin info;
  boost::dll::shared_library library;  // kept for the life of the process
};

std::mutex& loader_mutex() {
  static std::mutex m;
  return m;
}

std::vector<Loaded>& loaded() {
  static auto* v = new std::vector<Loaded>;  // never destroyed, so never unloaded
  return *v;
}

// The parts of the compiler tag that decide binary compatibility.
std::string abi_part(const std::string& tag) {
  std::string out;
  std::istringstream is(tag);
  std::string word;
  while (is >> word)
    if (word.rfind("cxxabi-", 0) == 0 || word.rfind("cxx11abi-", 0) == 0) out += word + " ";
  return out;
}

}  // namespace

const LoadedPlugin& load_plugin(const std::string& path_in) {
  std::lock_guard<std::mutex> lock(loader_mutex());
  std::error_code ec;
  fs::path path = fs::weakly_canonical(fs::path(path_in), ec);
  if (ec) path = path_in;
  for (const Loaded& l : loaded())
    if (l.info.path == path.string()) return l.info;
  KILN_CHECK(fs::exists(path), "plugin ", path_in, ": no such file");

  boost::dll::shared_library lib;
  boost::dll::fs::error_code dll_ec;
  lib.load(boost::dll::fs::path(path.string()), boost::dll::load_mode::default_mode, dll_ec);
  KILN_CHECK(!dll_ec, "plugin ", path.string(), ": cannot be loaded: ", dll_ec.message());
  KILN_CHECK(lib.has("kiln_plugin"), "plugin ", path.string(),
             ": not a kiln plugin (the library exports no entry point \"kiln_plugin\"; define one with KILN_PLUGIN)");
  auto& entry = lib.get_alias<const PluginInfo*()>("kiln_plugin");
  const PluginInfo* info = entry();
  KILN_CHECK(info, "plugin ", path.string(), ": its entry point returned nothing");
  KILN_CHECK(info->abi == kAbiVersion, "plugin ", path.string(), " was built for kiln ABI version ", info->abi,
             ", but this kiln has ABI version ", kAbiVersion, "; rebuild the plugin against this kiln");
  std::string theirs = info->compiler ? info->compiler : "";
  KILN_CHECK(abi_part(theirs) == abi_part(KILN_COMPILER_TAG), "plugin ", path.string(), " was built with \"", theirs,
             "\", which is not binary compatible with this kiln's \"", KILN_COMPILER_TAG, "\"");

  Registry& r = Registry::global();
  r.set_current_plugin(info->name, info->version);
  try {
    info->register_components(r);
  } catch (...) {
    r.set_current_plugin("kiln", "");
    throw;
  }
  r.set_current_plugin("kiln", "");
  loaded().push_back({{info->name, info->version, path.string(), theirs}, std::move(lib)});
  return loaded().back().info;
}

std::vector<std::string> plugin_search_path() {
  std::vector<std::string> dirs;
  // libkiln_core's own folder: <libdir>/kiln/plugins, in the build tree and when installed.
  fs::path core = boost::dll::this_line_location().string();
  dirs.push_back((core.parent_path() / "kiln" / "plugins").string());
  if (const char* env = std::getenv("KILN_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) dirs.push_back(s.substr(start, end - start));
      start = end + 1;
    }
  }
  return dirs;
}

void load_default_plugins() {
  for (const std::string& dir : plugin_search_path()) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".so") files.push_back(e.path());
    std::sort(files.begin(), files.end());  // a stable order, so duplicate errors are reproducible
    for (const fs::path& f : files) load_plugin(f.string());
  }
}

std::vector<LoadedPlugin> loaded_plugins() {
  std::lock_guard<std::mutex> lock(loader_mutex());
  std::vector<LoadedPlugin> out;
  for (const Loaded& l : loaded()) out.push_back(l.info);
  return out;
}

}  // namespace kiln
