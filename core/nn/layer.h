// Layers: the "layer" component kind. A layer is a Module with one tensor input and the state
// shared by every layer of a forward pass (positions, document segments, padding, the KV
// cache of generation, the random generator of dropout).
#pragma once

#include <vector>

#include "core/nn/module.h"
#include "core/tensor/random.h"

namespace kiln::nn {

/// Keys and values of the positions already processed, one entry per attention layer, so that
/// generation feeds one new token a step instead of the whole prefix.
struct KVCache {
  struct Entry {
    Tensor k, v;  ///< [B, Hkv, capacity, D], filled up to `length`
    /// Cross-attention layers (encoder-decoders): k and v are those of the whole memory,
    /// [B, Hkv, S, D], computed by the first forward that uses this cache and reused after;
    /// make_cache leaves them undefined.
    bool cross = false;
  };
  std::vector<Entry> layers;
  int64_t length = 0;    ///< positions filled (the model advances it after each forward)
  int64_t capacity = 0;  ///< positions allocated
};

/// What every layer of one forward pass sees beside its input.
struct ForwardState {
  Tensor positions;    ///< i64 [B, T] or [T]: absolute positions (default: 0..T-1, after the cache)
  Tensor segment_ids;  ///< i64 [B, T], optional: packed documents; attention stays within one
  Tensor key_padding;  ///< bool [B, S], optional: true where a key is a real token (encoders)
  Tensor token_types;  ///< i64 [B, T], optional: BERT's sentence A (0) / B (1) ids (0 when unset)
  Tensor memory;          ///< [B, S, d], encoder-decoders: the encoder states cross-attention reads
  Tensor memory_padding;  ///< bool [B, S], optional: true where a memory position is a real token
  KVCache* cache = nullptr;         ///< generation: read earlier keys/values, append this step's
  Generator* generator = nullptr;   ///< dropout draws (the default generator when null)
};

/// A "layer" component.
class Layer : public Module {
 public:
  virtual Tensor forward(const Tensor& x, ForwardState& state) = 0;
};

}  // namespace kiln::nn
