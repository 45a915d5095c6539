// The datasets plugin: text files, JSON lines and pre-tokenised shards (components.cpp).
#include "core/registry/plugin.h"
#include "plugins/datasets/components.h"

KILN_PLUGIN("kiln_datasets", "0.1.0", kiln::datasets::register_components)
