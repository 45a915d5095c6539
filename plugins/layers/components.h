// The components of the layers plugin: their schemas and factories.
//
// A model's settings flow down to its parts: the decoder fills in each block's config, and a
// block its attention's, MLP's and norms' configs, with the keys their schemas declare and the
// spec left out (d_model, n_heads, d_mlp, activation, bias, dropout, norm, pos, ...). A value
// given lower down wins, so one block of a stack may differ from the others.
#pragma once

#include "core/registry/registry.h"

namespace kiln::layers {

/// Registers layer.{token_embedding, learned, sinusoidal, rope, alibi, nope, layer_norm,
/// rms_norm, attention, mlp, block} and model.decoder, then register_encoder_components.
void register_components(Registry& r);

/// Registers layer.{t5_bias, lstm, sequence_classification, token_classification,
/// span_prediction} and model.{encoder, electra, encoder_decoder, bilm}.
void register_encoder_components(Registry& r);

}  // namespace kiln::layers
