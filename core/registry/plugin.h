// Plugins: shared libraries that register components. A plugin exports one entry point, the
// Boost.DLL alias `kiln_plugin`, returning a PluginInfo; the loader checks the ABI version
// before calling anything else, then lets the plugin register its components. Libraries are
// never unloaded while the process lives (objects they made may still be in use).
//
//   static void register_components(kiln::Registry& r) { r.add<Schedule>("schedule", ...); }
//   KILN_PLUGIN("my_plugin", "0.1.0", register_components)
#pragma once

#include <boost/dll/alias.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/registry/registry.h"

namespace kiln {

/// Bumped whenever a change to the core's headers breaks plugins built against the old ones.
inline constexpr uint32_t kAbiVersion = 1;

#define KILN_STRINGIFY_(x) #x
#define KILN_STRINGIFY(x) KILN_STRINGIFY_(x)
/// The compiler and C++ library a plugin was built with; the loader compares the parts that
/// decide binary compatibility (the C++ ABI version and libstdc++'s string ABI).
#define KILN_COMPILER_TAG                                                                \
  "gcc-" KILN_STRINGIFY(__GNUC__) "." KILN_STRINGIFY(__GNUC_MINOR__) " cxxabi-" KILN_STRINGIFY( \
      __GXX_ABI_VERSION) " cxx11abi-" KILN_STRINGIFY(_GLIBCXX_USE_CXX11_ABI)

/// What a plugin's entry point returns. `abi` comes first so that a plugin built for another
/// layout can still be read and refused.
struct PluginInfo {
  uint32_t abi;
  const char* compiler;
  const char* name;
  const char* version;
  void (*register_components)(Registry&);
};

/// Defines the entry point of a plugin.
#define KILN_PLUGIN(NAME, VERSION, REGISTER_FN)                                                   \
  namespace {                                                                                     \
  const ::kiln::PluginInfo* kiln_plugin_info() {                                                  \
    static const ::kiln::PluginInfo info{::kiln::kAbiVersion, KILN_COMPILER_TAG, NAME, VERSION,   \
                                         &REGISTER_FN};                                           \
    return &info;                                                                                 \
  }                                                                                               \
  }                                                                                               \
  BOOST_DLL_ALIAS(kiln_plugin_info, kiln_plugin)

struct LoadedPlugin {
  std::string name;
  std::string version;
  std::string path;
  std::string compiler;
};

/// Loads one plugin library and registers its components; loading the same file twice is a
/// no-op. Throws when the file cannot be loaded, has no entry point, was built for another
/// ABI, or registers a name that is taken.
const LoadedPlugin& load_plugin(const std::string& path);
/// Loads every plugin in the default places: the plugin folder beside libkiln_core
/// (<libdir>/kiln/plugins), then each folder in KILN_PLUGIN_PATH (colon-separated).
void load_default_plugins();
/// The folders load_default_plugins searches, in order.
std::vector<std::string> plugin_search_path();
/// Every plugin loaded so far.
std::vector<LoadedPlugin> loaded_plugins();

}  // namespace kiln
