// The probe components: each reads its inputs (prompts, files) with the run's tokenizer, runs
// one analysis of this folder, writes SVG figures into the output directory and returns its
// numbers as JSON.
#pragma once

#include "core/registry/registry.h"

namespace kiln::probes {

/// Registers logit_lens, attention_patterns, activation_patching, ablation and linear_probe.
void register_components(Registry& r);

}  // namespace kiln::probes
