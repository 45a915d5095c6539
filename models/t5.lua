-- T5 (Raffel et al. 2020), the original release (v1.0): a Transformer encoder-decoder with
-- pre-norm blocks whose norm is RMSNorm without mean subtraction (eps 1e-6), no biases, a ReLU
-- MLP, no absolute positions but a relative position bias (32 buckets up to distance 128, one
-- table per stack shared by its layers: bidirectional in the encoder, causal in the decoder),
-- unscaled attention scores (the scale is folded into the initialisation), a final norm in each
-- stack, one token embedding shared by both stacks and the tied head, whose input is scaled by
-- d_model^-0.5; dropout 0.1. The decoder starts from the pad id 0.
--
-- As a spec of its own this file is T5-base with its SentencePiece vocabulary of 32128:
-- 222,903,552 parameters, as Hugging Face's t5-base. Included, it is a function that makes a
-- model:
--
--   local t5 = include "models/t5.lua"
--   model = t5 { size = "small" }
--   model = t5 { size = "tiny", vocab = 2000, dropout = 0 }
--
-- Options: size ("tiny", "small", "base", "large"), vocab (32128), d_model, n_layers (each
-- stack), n_decoder_layers, n_heads, d_mlp, seq_len or context (512), dropout (0.1),
-- num_buckets (32), max_distance (128).

local sizes = {
  tiny  = { n_layers = 2,  d_model = 128,  n_heads = 2,  d_mlp = 512 },
  small = { n_layers = 6,  d_model = 512,  n_heads = 8,  d_mlp = 2048 },  -- 61M
  base  = { n_layers = 12, d_model = 768,  n_heads = 12, d_mlp = 3072 },  -- 223M
  large = { n_layers = 24, d_model = 1024, n_heads = 16, d_mlp = 4096 },  -- 738M
}

local read_options = include "lib/options.lua"
local presets = { sizes = sizes, default = "base", names = "tiny, small, base or large" }

local options = { size = true, vocab = true, d_model = true, n_layers = true,
                  n_decoder_layers = true, n_heads = true, d_mlp = true, seq_len = true,
                  context = true, dropout = true, num_buckets = true, max_distance = true }

local function t5(o)
  local pick, size
  o, pick, size = read_options("t5", o, options, presets)
  return encoder_decoder {
    vocab = pick("vocab", 32128),
    d_model = pick("d_model", size.d_model),
    n_layers = pick("n_layers", size.n_layers),
    n_decoder_layers = o.n_decoder_layers,
    n_heads = pick("n_heads", size.n_heads),
    d_mlp = pick("d_mlp", size.d_mlp),
    context = o.context or o.seq_len or 512,
    activation = "relu",
    bias = false,
    dropout = pick("dropout", 0.1),
    norm = rms_norm { eps = 1e-6 },
    norm_position = "pre",
    final_norm = true,
    pos = t5_bias { num_buckets = pick("num_buckets", 32),
                    max_distance = pick("max_distance", 128) },
    encoder_block = block { attn = attention { scale = 1.0 } },
    decoder_block = block { attn = attention { scale = 1.0 },
                            cross_attn = attention { scale = 1.0 } },
    embed_norm = false,
    scale_logits = true,
    tie_embeddings = true,
    decoder_start = 0,
    init_std = 0.02,
  }
end

return setmetatable({ model = t5 { size = "base" } }, {
  __call = function(_, o) return t5(o) end,
  __index = { sizes = sizes },
})
