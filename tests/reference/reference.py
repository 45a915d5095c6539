#!/usr/bin/env python3
"""The PyTorch side of kiln's whole-model reference test (README.md here).

Reads a kiln inputs fixture (<name>.inputs.safetensors: the initial weights kiln drew, a token
batch and the settings of the spec), builds the same model in plain PyTorch written from the
papers (a nanoGPT-style GPT-2, a minimal LLaMA), and writes <name>.expected.safetensors:

  logits            [B, T, vocab] at the initial weights
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


def attention(x, p, name, cfg):
    """Causal multi-head attention with grouped-query heads (Vaswani et al. 2017; Ainslie et al.
    2023). c_attn's rows are q (H heads of D), then k (Hkv heads), then v (Hkv heads); query
    head h reads key/value head h // (H / Hkv) (LLaMA's repeat_kv)."""
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
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(D)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    scores = scores.masked_fill(~causal, float("-inf"))
    y = torch.softmax(scores, dim=-1) @ v  # [B, H, T, D]
    y = y.transpose(1, 2).reshape(B, T, H * D)
    return linear(y, p, name + ".c_proj")


def mlp(x, p, name, cfg):
    act = cfg["activation"]
    if act == "gelu_tanh":  # GPT-2: c_proj(gelu(c_fc(x)))
        return linear(gelu_tanh(linear(x, p, name + ".c_fc")), p, name + ".c_proj")
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


def forward(p, idx, cfg):
    """Logits [B, T, vocab] of a pre-norm decoder: GPT-2 (learned positions, LayerNorm, GELU,
    tied head) or LLaMA (RoPE, RMSNorm, SwiGLU, GQA, untied head), as cfg says."""
    B, T = idx.shape
    x = p["wte.weight"][idx]
    if cfg["pos"] == "learned":
        x = x + p["wpe.weight"][torch.arange(T)]
    n_layers = 1 + max(int(k.split(".")[1]) for k in p if k.startswith("blocks."))
    for i in range(n_layers):
        b = "blocks.%d" % i
        x = x + attention(norm(x, p, b + ".ln1", cfg), p, b + ".attn", cfg)
        x = x + mlp(norm(x, p, b + ".ln2", cfg), p, b + ".mlp", cfg)
    x = norm(x, p, "ln_final", cfg)
    head = p["wte.weight"] if cfg["tie_embeddings"] else p["lm_head.weight"]
    return x @ head.t()


def loss_of(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=-100)


def decays(name, t):
    """The weight-decay groups the issue asks of kiln's trainer: matrices decay; norm gains,
    biases (1-d) and the embedding tables (wte, wpe; also the tied head, which is wte) do not.
    An untied lm_head is a matrix of a linear layer and decays."""
    return t.dim() >= 2 and name not in ("wte.weight", "wpe.weight")


def config_of(meta):
    for key, want in (("norm_position", "pre"),):
        if meta[key] != want:
            raise ValueError("reference.py: %s = %r is not implemented" % (key, meta[key]))
    cfg = {
        "activation": meta["activation"],
        "n_heads": int(meta["n_heads"]),
        "n_kv_heads": int(meta["n_kv_heads"]),
        "tie_embeddings": meta["tie_embeddings"] == "true",
        "norm": meta["norm"],
        "norm_eps": float(meta["norm_eps"]),
        "pos": meta["pos"],
    }
    if cfg["pos"] not in ("learned", "rope"):
        raise ValueError("reference.py: positions %r are not implemented" % cfg["pos"])
    if cfg["pos"] == "rope":
        cfg["rope_theta"] = float(meta["rope_theta"])
    return cfg


def run(inputs_path, expected_path):
    tensors, meta = read_safetensors(inputs_path)
    cfg = config_of(meta)
    idx = tensors.pop("tokens.inputs")
    targets = tensors.pop("tokens.targets")
    params = {n: t.to(torch.float64).requires_grad_() for n, t in tensors.items()}

    # Logits, loss and every gradient at the initial weights.
    logits = forward(params, idx, cfg)
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
        step_loss = loss_of(forward(params, idx, cfg), targets)
        step_loss.backward()
        if grad_clip > 0:
            norms.append(float(torch.nn.utils.clip_grad_norm_(params.values(), grad_clip)))
        losses.append(step_loss.item())
        opt.step()
    out["losses"] = torch.tensor(losses, dtype=torch.float64)

    write_safetensors(expected_path, out, {"case": meta.get("case", ""),
                                           "torch": torch.__version__, "computed_in": "float64"})
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
