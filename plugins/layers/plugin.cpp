// The layers plugin: decoder layers and the decoder model (see components.h).
#include "core/registry/plugin.h"
#include "plugins/layers/components.h"

KILN_PLUGIN("kiln_layers", "0.1.0", kiln::layers::register_components)
