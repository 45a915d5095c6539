// The layers plugin: layers and the decoder, encoder, encoder-decoder, ELECTRA and biLM models
// (see components.h).
#include "core/registry/plugin.h"
#include "plugins/layers/components.h"

KILN_PLUGIN("kiln_layers", "0.1.0", kiln::layers::register_components)
