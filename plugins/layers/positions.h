// Token embedding and position schemes.
//
// Absolute schemes (learned, sinusoidal) add an embedding of each position to the token
// embeddings; the decoder owns them. Relative schemes act inside attention: RoPE rotates
// queries and keys (Su et al. 2021), ALiBi adds -slope_h * (i - j) to the scores (Press et al.
// 2022). NoPE has none (causal attention alone carries order).
//
// Positions come from ForwardState::positions (i64 [B, T] or [T]: packed documents restart
// at 0, left-padded prompts start after their padding) or, when it is undefined, are
// offset + 0..T-1 with offset the KV cache's length. RoPE and ALiBi depend only on the
// distance between a query and a key, so they are exact for packed rows and padded prompts
// whichever of the two a caller gives.
#pragma once

#include <vector>

#include "core/nn/layer.h"
#include "plugins/layers/common.h"

namespace kiln::layers {

/// Token ids i64 [...] -> embeddings [..., d_model]; parameter `weight` [vocab, d_model].
class TokenEmbedding : public nn::Layer, public Initializable {
 public:
  TokenEmbedding(int64_t vocab, int64_t d_model);
  Tensor forward(const Tensor& ids, nn::ForwardState& state) override;
  void init_weights(const InitOptions& o) override;
  int64_t vocab() const { return weight.size(0); }

  nn::Parameter weight;
};

/// Where the rows of one forward sit: explicit positions, or offset + 0..T-1.
struct PositionInfo {
  Tensor positions;    ///< i64 [B, T] or [T]; undefined = offset + arange(T)
  int64_t offset = 0;  ///< the KV cache's length
  int64_t T = 0;
  /// The positions as a tensor ([T] when implicit).
  Tensor resolved() const;
  /// The largest position (to check against a table's length).
  int64_t max_position() const;
};

/// The base of this plugin's position schemes.
class Positions : public nn::Layer {
 public:
  /// Learned and sinusoidal positions are added to the embeddings by the model.
  virtual bool is_absolute() const { return false; }
  /// The embedding of each position, [B, T, d] or [T, d] (absolute schemes).
  virtual Tensor embed(const PositionInfo& where) const;
  /// q or k [B, H, T, D] with positions applied (RoPE); the identity otherwise.
  virtual Tensor rotate(const Tensor& x, const PositionInfo& where) const { return x; }
  /// A bias [1, H, T, S] for the scores of T queries at cache offset S - T (ALiBi), or
  /// undefined.
  virtual Tensor attention_bias(int64_t H, int64_t T, int64_t S, DType dtype) { return {}; }
  /// Absolute schemes: x + embed(positions of x's rows); others: x.
  Tensor forward(const Tensor& x, nn::ForwardState& state) override;
};

/// GPT-2's learned table: parameter `weight` [context, d_model].
class LearnedPositions : public Positions, public Initializable {
 public:
  LearnedPositions(int64_t context, int64_t d_model);
  bool is_absolute() const override { return true; }
  Tensor embed(const PositionInfo& where) const override;
  void init_weights(const InitOptions& o) override;

  nn::Parameter weight;
};

/// Vaswani et al. (2017): PE(p, 2i) = sin(p / base^(2i/d)), PE(p, 2i+1) = cos(p / base^(2i/d));
/// a fixed table [context, d_model] (a buffer that is not saved).
class SinusoidalPositions : public Positions {
 public:
  SinusoidalPositions(int64_t context, int64_t d_model, double base);
  bool is_absolute() const override { return true; }
  Tensor embed(const PositionInfo& where) const override;

 private:
  Tensor table_;
};

/// Rotary embedding in the GPT-NeoX / LLaMA layout (pairs (i, i + R/2)) on the first
/// R = fraction * head_dim dims of each head (rounded down to even).
class RotaryPositions : public Positions {
 public:
  RotaryPositions(double theta, double fraction);
  Tensor rotate(const Tensor& x, const PositionInfo& where) const override;
  double theta() const { return theta_; }
  double fraction() const { return fraction_; }

 private:
  double theta_, fraction_;
};

/// ALiBi: head h of H adds -m_h * (i - j) to the score of query i and key j, with
/// m_h = 2^(-8h/H) for h = 1..H when H is a power of two; otherwise the slopes of the closest
/// power of two n below H, then every other slope of 2n (Press et al., appendix).
/// The paper's bias is for causal attention, where i >= j; in bidirectional attention (an
/// encoder) it would reward keys the farther they lie after the query, so there the bias is
/// the symmetric -m_h * |i - j| (as MosaicBERT's encoders use it).
class AlibiPositions : public Positions {
 public:
  explicit AlibiPositions(bool bidirectional = false) : bidirectional_(bidirectional) {}
  Tensor attention_bias(int64_t H, int64_t T, int64_t S, DType dtype) override;
  static std::vector<double> slopes(int64_t H);

 private:
  bool bidirectional_;
  // The bias of the last call, reused while the shape stays (every step of training).
  int64_t H_ = 0, T_ = 0, S_ = 0;
  Tensor bias_;
};

/// T5's relative position bias (Raffel et al. 2020, section 2.1): a learned scalar for each
/// head and bucket of the distance key - query, added to the attention scores. One table
/// serves every self-attention layer of a stack: the model owns it (child "rel_pos") and hands
/// it to them. Distances (by index: query t of T sits at S - T + t among S keys, which is exact
/// with a KV cache and for left-padded prompts, as ALiBi) fall into num_buckets buckets:
/// bidirectional (encoders), half the buckets for keys after the query and half for keys before;
/// causal (decoders), keys after the query share bucket 0. Of a direction's n buckets, the
/// first n/2 are exact distances 0..n/2-1; the rest are spaced logarithmically up to
/// max_distance, beyond which all share the last bucket.
class RelativePositionBias : public Positions, public Initializable {
 public:
  /// Parameter: weight [num_buckets, n_heads] (Hugging Face's relative_attention_bias.weight).
  RelativePositionBias(int64_t n_heads, int64_t num_buckets, int64_t max_distance,
                       bool bidirectional);
  /// [1, H, T, S], differentiable in weight.
  Tensor attention_bias(int64_t H, int64_t T, int64_t S, DType dtype) override;
  void init_weights(const InitOptions& o) override;
  /// The bucket of a relative position key - query (Hugging Face's _relative_position_bucket,
  /// with its float32 arithmetic).
  static int64_t bucket(int64_t relative, bool bidirectional, int64_t num_buckets,
                        int64_t max_distance);
  bool bidirectional() const { return bidirectional_; }
  int64_t num_buckets() const { return num_buckets_; }
  int64_t max_distance() const { return max_distance_; }

  nn::Parameter weight;

 private:
  int64_t num_buckets_, max_distance_;
  bool bidirectional_;
  int64_t T_ = 0, S_ = 0;
  Tensor buckets_;  // i64 [T, S] of the last shape asked for
};

/// No positions at all (NoPE; Kazemnejad et al. 2023).
class NoPositions : public Positions {};

}  // namespace kiln::layers
