// The probes plugin: registers the probes of this folder.
#include "core/registry/plugin.h"
#include "plugins/probes/components.h"

KILN_PLUGIN("kiln_probes", "0.1.0", kiln::probes::register_components)
