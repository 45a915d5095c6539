// The test tokenizers as a plugin, for specs that the kiln program runs (kiln data tokenize).
#include "core/registry/plugin.h"
#include "tests/plugins/datasets/fake_tokenizers.h"

namespace {
void register_components(kiln::Registry& r) {
  kiln::testing::register_fake_tokenizers(r);
}
}  // namespace

KILN_PLUGIN("test_datasets_tokenizers", "0.1.0", register_components)
