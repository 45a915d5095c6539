// The datasets plugin's components (text, jsonl, shards), registered by its entry point and,
// in the plugin's tests, directly.
#pragma once

#include "core/registry/registry.h"

namespace kiln::datasets {

void register_components(Registry& r);

}  // namespace kiln::datasets
