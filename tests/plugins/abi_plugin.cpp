// Claims an ABI version this kiln does not have: the loader must refuse it before calling
// anything but the entry point.
#include "core/registry/plugin.h"

namespace {

void must_not_be_called(kiln::Registry&) { throw kiln::Error("the loader called a plugin built for another ABI"); }

const kiln::PluginInfo* info() {
  static const kiln::PluginInfo i{kiln::kAbiVersion + 41, KILN_COMPILER_TAG, "test_abi", "9.9.9", &must_not_be_called};
  return &i;
}

}  // namespace

BOOST_DLL_ALIAS(info, kiln_plugin)
