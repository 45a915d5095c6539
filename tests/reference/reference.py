#!/usr/bin/env python3
"""The PyTorch side of kiln's whole-model reference test (README.md here).

Reads a kiln inputs fixture (<name>.inputs.safetensors: the initial weights kiln drew, a token
batch and the settings of the spec), builds the same model in plain PyTorch written from the
papers (a nanoGPT-style GPT-2, a minimal LLaMA, BERT with its MLM head, T5 v1.0), and writes
<name>.expected.safetensors:

  logits            [B, T, vocab] at the initial weights (T5: the decoder's, teacher-forced)
  loss              [1]  mean cross-entropy over the targets that are not -100
  grad.<param>      the gradient of the loss for every parameter, keyed by kiln's names
  losses            [steps]  the loss of each of `steps` AdamW steps, taken before its update

Everything is computed in float64 and stored as float32, so the expected values carry no error
of their own at kiln's f32 tolerance.

  python3 tests/reference/reference.py tests/reference/fixtures/gpt2.inputs.safetensors ...

Needs PyTorch (Debian: apt-get install python3-torch); developed against 1.13.
"""

import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# ---- safetensors (the format is a JSON header and raw little-endian data; no library needed) --

_DTYPES = {"F64": np.float64, "F32": np.float32, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        a = np.frombuffer(body[begin:end], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(a.copy())
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header, chunks, offset = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().cpu().numpy().astype("<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


# ---- the models -----------------------------------------------------------------------------
#
# Parameters are a dict name -> leaf tensor with kiln's names and torch.nn.Linear's [out, in]
# layout, so the gradients come back under kiln's names without a mapping.


def linear(x, p, name):
    y = x @ p[name + ".weight"].t()
    return y + p[name + ".bias"] if name + ".bias" in p else y


def layer_norm(x, p, name, eps):
    # Ba et al. 2016: (x - mean) / sqrt(var + eps) * weight + bias, biased variance.
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps) * p[name + ".weight"]
    return y + p[name + ".bias"] if name + ".bias" in p else y


def rms_norm(x, p, name, eps):
    # Zhang & Sennrich 2019: x / sqrt(mean(x^2) + eps) * weight.
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * p[name + ".weight"]


def gelu_tanh(x):
    # GPT-2's approximation (Hendrycks & Gimpel 2016).
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def rope(x, theta):
    """Rotary embedding (Su et al. 2021) of x [B, H, T, D] at positions 0..T-1.

    The pairing convention is GPT-NeoX's, which Hugging Face's LLaMA uses: dimension i rotates
    with dimension i + D/2 (the "rotate_half" layout), at frequency theta^(-2i/D) for
    i < D/2. (Meta's original LLaMA code pairs adjacent dimensions (2i, 2i+1) instead; the two
    agree after a permutation of the rows of the q and k projections.) kiln's RotaryPositions
    and ops::rotary_embedding use this half-split layout.
    """
    B, H, T, D = x.shape
    half = D // 2
    inv_freq = theta ** (-torch.arange(0, half, dtype=torch.float64) * 2 / D)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]  # [T, D/2]
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def heads_attention(q, k, v, scale, bias=None, causal=False):
    """softmax(scale q.k^T + bias, masked) v over q [B, H, T, D], k and v [B, H, S, D]."""
    scores = (q @ k.transpose(-2, -1)) * scale
    if bias is not None:
        scores = scores + bias
    if causal:
        T, S = scores.shape[-2:]
        keep = torch.ones(T, S, dtype=torch.bool).tril(S - T)
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def merge_heads(y):
    B, H, T, D = y.shape
    return y.transpose(1, 2).reshape(B, T, H * D)


def attention(x, p, name, cfg, causal=True, bias=None, scale=None):
    """Multi-head self-attention with grouped-query heads (Vaswani et al. 2017; Ainslie et al.
    2023), causal (decoders) or bidirectional (encoders). c_attn's rows are q (H heads of D),
    then k (Hkv heads), then v (Hkv heads); query head h reads key/value head h // (H / Hkv)
    (LLaMA's repeat_kv). bias: added to the scores (T5's relative bias); scale: of the scores,
    1/sqrt(D) unless given (T5: 1)."""
    B, T, C = x.shape
    H, Hkv = cfg["n_heads"], cfg["n_kv_heads"]
    qkv = linear(x, p, name + ".c_attn")
    D = qkv.shape[-1] // (H + 2 * Hkv)
    q, k, v = qkv.split([H * D, Hkv * D, Hkv * D], dim=-1)
    q = q.view(B, T, H, D).transpose(1, 2)
    k = k.view(B, T, Hkv, D).transpose(1, 2)
    v = v.view(B, T, Hkv, D).transpose(1, 2)
    if cfg["pos"] == "rope":
        q, k = rope(q, cfg["rope_theta"]), rope(k, cfg["rope_theta"])
    if Hkv != H:
        k = k.repeat_interleave(H // Hkv, dim=1)
        v = v.repeat_interleave(H // Hkv, dim=1)
    y = heads_attention(q, k, v, 1 / math.sqrt(D) if not scale else scale, bias, causal)
    return linear(merge_heads(y), p, name + ".c_proj")


def cross_attention(x, memory, p, name, cfg, scale=None):
    """Encoder-decoder attention (Vaswani et al. 2017, 3.2.3): queries from the decoder (c_q),
    keys and values from the encoder's output (c_kv: the k rows, then the v rows); every
    decoder position sees every source position."""
    B, T, C = x.shape
    S = memory.shape[1]
    H = cfg["n_heads"]
    q = linear(x, p, name + ".c_q")
    D = q.shape[-1] // H
    k, v = linear(memory, p, name + ".c_kv").split([H * D, H * D], dim=-1)
    q = q.view(B, T, H, D).transpose(1, 2)
    k = k.view(B, S, H, D).transpose(1, 2)
    v = v.view(B, S, H, D).transpose(1, 2)
    y = heads_attention(q, k, v, 1 / math.sqrt(D) if not scale else scale)
    return linear(merge_heads(y), p, name + ".c_proj")


def gelu(x):
    # The exact GELU (Hendrycks & Gimpel 2016), BERT's: x * Phi(x).
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


ACTIVATIONS = {"gelu_tanh": gelu_tanh, "gelu": gelu, "relu": torch.relu}


def mlp(x, p, name, cfg):
    act = cfg["activation"]
    if act in ACTIVATIONS:  # GPT-2, BERT, T5 v1.0: c_proj(act(c_fc(x)))
        return linear(ACTIVATIONS[act](linear(x, p, name + ".c_fc")), p, name + ".c_proj")
    if act == "swiglu":  # Shazeer 2020: down(silu(gate(x)) * up(x))
        gate = linear(x, p, name + ".gate_proj")
        return linear(F.silu(gate) * linear(x, p, name + ".up_proj"), p, name + ".down_proj")
    raise ValueError("reference.py: activation %r is not implemented" % act)


def norm(x, p, name, cfg):
    if cfg["norm"] == "layer_norm":
        return layer_norm(x, p, name, cfg["norm_eps"])
    if cfg["norm"] == "rms_norm":
        return rms_norm(x, p, name, cfg["norm_eps"])
    raise ValueError("reference.py: norm %r is not implemented" % cfg["norm"])


def n_layers_of(p, prefix):
    return 1 + max(int(k[len(prefix):].split(".")[0]) for k in p if k.startswith(prefix))


def decoder_forward(p, idx, cfg):
    """Logits [B, T, vocab] of a pre-norm decoder: GPT-2 (learned positions, LayerNorm, GELU,
    tied head) or LLaMA (RoPE, RMSNorm, SwiGLU, GQA, untied head), as cfg says."""
    B, T = idx.shape
    x = p["wte.weight"][idx]
    if cfg["pos"] == "learned":
        x = x + p["wpe.weight"][torch.arange(T)]
    for i in range(n_layers_of(p, "blocks.")):
        b = "blocks.%d" % i
        x = x + attention(norm(x, p, b + ".ln1", cfg), p, b + ".attn", cfg)
        x = x + mlp(norm(x, p, b + ".ln2", cfg), p, b + ".mlp", cfg)
    x = norm(x, p, "ln_final", cfg)
    head = p["wte.weight"] if cfg["tie_embeddings"] else p["lm_head.weight"]
    return x @ head.t()


def bert_forward(p, idx, cfg):
    """MLM logits [B, T, vocab] of BERT (Devlin et al. 2019; Hugging Face's BertForMaskedLM):
    embeddings = LayerNorm(word + position + token type 0); post-norm blocks,
    x = LayerNorm(x + attention(x)), x = LayerNorm(x + mlp(x)), with bidirectional attention
    and exact GELU; the MLM head LayerNorm(gelu(dense(x))) @ word_embeddings^T + bias."""
    B, T = idx.shape
    e = "embeddings."
    x = p[e + "wte.weight"][idx] + p[e + "wpe.weight"][torch.arange(T)]
    if cfg["n_types"] > 0:
        x = x + p[e + "token_type.weight"][0]
    if cfg["embed_norm"]:
        x = norm(x, p, e + "ln", cfg)
    for i in range(n_layers_of(p, "blocks.")):
        b = "blocks.%d" % i
        x = norm(x + attention(x, p, b + ".attn", cfg, causal=False), p, b + ".ln1", cfg)
        x = norm(x + mlp(x, p, b + ".mlp", cfg), p, b + ".ln2", cfg)
    h = ACTIVATIONS[cfg["mlm_activation"]](linear(x, p, "mlm_head.dense"))
    h = norm(h, p, "mlm_head.ln", cfg)
    head = p[e + "wte.weight"] if cfg["tie_embeddings"] else p["mlm_head.decoder.weight"]
    return h @ head.t() + p["mlm_head.bias"]


def t5_bucket(relative_position, bidirectional, num_buckets, max_distance):
    """T5's bucket of each relative position key - query (Raffel et al. 2020, 2.1; Mesh
    TensorFlow's _relative_position_bucket, as Hugging Face's T5Attention computes it, in
    float32): half the buckets for each direction when bidirectional (keys after the query in
    the upper half), else keys after the query share bucket 0; of a direction's n buckets, n/2
    exact distances, the rest logarithmic up to max_distance, beyond which the last."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (torch.log(relative_position.float() / max_exact)
                         / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, relative_position, large)


def t5_bias(p, name, T, S, bidirectional, cfg):
    """The relative position bias [1, H, T, S] of a stack's table name [buckets, H]."""
    relative = torch.arange(S)[None, :] - torch.arange(T)[:, None]
    b = t5_bucket(relative, bidirectional, cfg["num_buckets"], cfg["max_distance"])
    return p[name][b].permute(2, 0, 1).unsqueeze(0)


def t5_forward(p, src, dec_in, cfg):
    """Decoder logits [B, T, vocab] of T5 v1.0 (Raffel et al. 2020; Hugging Face's
    T5ForConditionalGeneration) for sources [B, S] and decoder inputs [B, T]: one token
    embedding (shared) for both stacks and the tied head; pre-norm blocks with RMSNorm (no mean
    subtraction), unscaled attention scores plus the stack's relative bias (computed once,
    shared by its layers: bidirectional in the encoder, causal in the decoder; none in
    cross-attention), a ReLU MLP, no biases, a final norm in each stack; the decoder's final
    states are scaled by d_model^-0.5 before the tied head."""
    S, T = src.shape[1], dec_in.shape[1]
    x = p["shared.weight"][src]
    bias = t5_bias(p, "encoder.rel_pos.weight", S, S, True, cfg)
    for i in range(n_layers_of(p, "encoder.blocks.")):
        b = "encoder.blocks.%d" % i
        x = x + attention(norm(x, p, b + ".ln1", cfg), p, b + ".attn", cfg, causal=False,
                          bias=bias, scale=cfg["encoder_attn_scale"])
        x = x + mlp(norm(x, p, b + ".ln2", cfg), p, b + ".mlp", cfg)
    memory = norm(x, p, "encoder.ln_final", cfg)

    y = p["shared.weight"][dec_in]
    bias = t5_bias(p, "decoder.rel_pos.weight", T, T, False, cfg)
    for i in range(n_layers_of(p, "decoder.blocks.")):
        b = "decoder.blocks.%d" % i
        y = y + attention(norm(y, p, b + ".ln1", cfg), p, b + ".attn", cfg, causal=True,
                          bias=bias, scale=cfg["decoder_attn_scale"])
        y = y + cross_attention(norm(y, p, b + ".ln_cross", cfg), memory, p, b + ".cross_attn",
                                cfg, scale=cfg["cross_attn_scale"])
        y = y + mlp(norm(y, p, b + ".ln2", cfg), p, b + ".mlp", cfg)
    y = norm(y, p, "decoder.ln_final", cfg)
    if cfg["tie_embeddings"]:
        if cfg["scale_logits"]:
            y = y * cfg["d_model"] ** -0.5
        return y @ p["shared.weight"].t()
    return y @ p["decoder.lm_head.weight"].t()


def shift_right(targets, start):
    """The decoder's input under teacher forcing (Hugging Face's T5 _shift_right): the start
    token, then the targets but the last, with -100 (no loss) read as the start token (T5's
    decoder start is its pad, 0)."""
    d = torch.full_like(targets, start)
    d[:, 1:] = targets[:, :-1]
    return d.masked_fill(d == -100, start)


def forward(p, idx, targets, cfg):
    if cfg["model"] == "decoder":
        return decoder_forward(p, idx, cfg)
    if cfg["model"] == "encoder":
        return bert_forward(p, idx, cfg)
    return t5_forward(p, idx, shift_right(targets, cfg["decoder_start"]), cfg)


def loss_of(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=-100)


TABLES = ("wte.weight", "wpe.weight", "token_type.weight", "shared.weight", "rel_pos.weight")


def decays(name, t):
    """The weight-decay groups the issue asks of kiln's trainer: matrices decay; norm gains,
    biases (1-d) and the embedding tables do not: token embeddings (wte, T5's shared; also the
    tied heads, which are they), learned positions (wpe), token types and T5's relative
    position bias (an embedding of buckets, and a bias). An untied lm_head is a matrix of a
    linear layer and decays."""
    return t.dim() >= 2 and not any(name == tab or name.endswith("." + tab) for tab in TABLES)


def config_of(meta):
    model = meta.get("model", "decoder")
    want = {"decoder": "pre", "encoder": "post", "encoder_decoder": "pre"}[model]
    if meta["norm_position"] != want:
        raise ValueError("reference.py: norm_position = %r is not implemented for %s"
                         % (meta["norm_position"], model))
    cfg = {
        "model": model,
        "activation": meta["activation"],
        "n_heads": int(meta["n_heads"]),
        "n_kv_heads": int(meta["n_kv_heads"]),
        "tie_embeddings": meta["tie_embeddings"] == "true",
        "norm": meta["norm"],
        "norm_eps": float(meta["norm_eps"]),
        "pos": meta["pos"],
    }
    allowed = {"decoder": ("learned", "rope"), "encoder": ("learned",),
               "encoder_decoder": ("t5_bias",)}[model]
    if cfg["pos"] not in allowed:
        raise ValueError("reference.py: positions %r are not implemented for %s"
                         % (cfg["pos"], model))
    if cfg["pos"] == "rope":
        cfg["rope_theta"] = float(meta["rope_theta"])
    if model == "encoder":
        cfg["n_types"] = int(meta["n_types"])
        cfg["embed_norm"] = meta["embed_norm"] == "true"
        cfg["mlm_activation"] = meta["mlm_activation"]
    if model == "encoder_decoder":
        if cfg["n_kv_heads"] != cfg["n_heads"]:
            raise ValueError("reference.py: the encoder-decoder has multi-head attention only")
        cfg["num_buckets"] = int(meta["num_buckets"])
        cfg["max_distance"] = int(meta["max_distance"])
        for key in ("encoder_attn_scale", "decoder_attn_scale", "cross_attn_scale"):
            cfg[key] = float(meta[key])
        cfg["scale_logits"] = meta["scale_logits"] == "true"
        cfg["decoder_start"] = int(meta["decoder_start"])
    return cfg


def run(inputs_path, expected_path):
    tensors, meta = read_safetensors(inputs_path)
    cfg = config_of(meta)
    idx = tensors.pop("tokens.inputs")
    targets = tensors.pop("tokens.targets")
    params = {n: t.to(torch.float64).requires_grad_() for n, t in tensors.items()}
    if cfg["model"] == "encoder_decoder":
        cfg["d_model"] = params["shared.weight"].shape[1]

    # Logits, loss and every gradient at the initial weights.
    logits = forward(params, idx, targets, cfg)
    loss = loss_of(logits, targets)
    loss.backward()
    out = {"logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for n, t in params.items():
        out["grad." + n] = t.grad.detach().clone()
        t.grad = None

    # Ten AdamW steps on the same batch, with the trainer's settings: global-norm clipping, then
    # torch.optim.AdamW with decoupled weight decay on the decayed group only.
    names = sorted(params)
    groups = [
        {"params": [params[n] for n in names if decays(n, params[n])],
         "weight_decay": float(meta["weight_decay"])},
        {"params": [params[n] for n in names if not decays(n, params[n])], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=float(meta["lr"]),
                            betas=(float(meta["beta1"]), float(meta["beta2"])),
                            eps=float(meta["eps"]))
    grad_clip = float(meta["grad_clip"])
    losses, norms = [], []
    for _ in range(int(meta["steps"])):
        opt.zero_grad(set_to_none=True)
        step_loss = loss_of(forward(params, idx, targets, cfg), targets)
        step_loss.backward()
        if grad_clip > 0:
            norms.append(float(torch.nn.utils.clip_grad_norm_(params.values(), grad_clip)))
        losses.append(step_loss.item())
        opt.step()
    out["losses"] = torch.tensor(losses, dtype=torch.float64)

    no_decay = ",".join(n for n in names if not decays(n, params[n]))
    write_safetensors(expected_path, out, {"case": meta.get("case", ""),
                                           "torch": torch.__version__, "computed_in": "float64",
                                           "no_decay": no_decay})
    print("%s: loss %.6f -> %.6f over %d steps; grad norms %s (clip %g)"
          % (expected_path, losses[0], losses[-1], len(losses),
             " ".join("%.3f" % g for g in norms), grad_clip))


def main(argv):
    if len(argv) < 2:
        print("usage: reference.py FIXTURES/<name>.inputs.safetensors ...", file=sys.stderr)
        return 2
    torch.set_grad_enabled(True)
    for path in argv[1:]:
        if not path.endswith(".inputs.safetensors"):
            print("reference.py: %s is not an inputs fixture (*.inputs.safetensors)" % path,
                  file=sys.stderr)
            return 2
        run(path, path[: -len(".inputs.safetensors")] + ".expected.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
