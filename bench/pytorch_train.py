#!/usr/bin/env python3
"""The PyTorch side of bench_train's shakespeare-char and gpt2-124m figures.

Issue 4 compares kiln's step time with PyTorch on the same machine and threads. This script
times the same steps in PyTorch (Debian's python3-torch): nanoGPT's GPT model (pre-norm
blocks, LayerNorm, tanh GELU, learned positions, tied head, biases, init normal(0, 0.02) with
the residual projections at 0.02 / sqrt(2 L)), forward + cross-entropy + backward + global-norm
clipping at 1.0 + torch.optim.AdamW (two groups: matrices decayed), on uniformly random tokens
as bench_train's synthetic data. ms/step is the fastest timed step (as bench_train reports it),
the median beside it.

Usage: /usr/bin/python3 bench/pytorch_train.py [--threads 2] [--only shakespeare-char|gpt2-124m]
                                               [--steps 20] [--warmup 3]
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    # name: (vocab, d_model, n_layers, n_heads, seq_len, batch, lr, betas)
    "shakespeare-char": (65, 128, 4, 4, 64, 12, 1e-3, (0.9, 0.99)),
    "gpt2-124m": (50304, 768, 12, 12, 256, 4, 6e-4, (0.9, 0.95)),
}


class Block(nn.Module):
    def __init__(self, d, h, T):
        super().__init__()
        self.h = h
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        # nanoGPT's attention without flash (PyTorch 1.13 has no scaled_dot_product_attention)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
        att = F.softmax(att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf")), dim=-1)
        y = att @ v
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, d, L, h, T):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(T, d)
        self.blocks = nn.ModuleList(Block(d, h, T) for _ in range(L))
        self.ln_f = nn.LayerNorm(d)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * L) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def bench(name, steps, warmup):
    vocab, d, L, h, T, B, lr, betas = CONFIGS[name]
    torch.manual_seed(0)
    model = GPT(vocab, d, L, h, T)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}], lr=lr, betas=betas)
    stream = torch.randint(vocab, (1 << 20,))
    times = []
    for step in range(warmup + steps):
        ix = torch.randint(len(stream) - T - 1, (B,))
        x = torch.stack([stream[i:i + T] for i in ix])
        y = torch.stack([stream[i + 1:i + 1 + T] for i in ix])
        t0 = time.perf_counter()
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    best, median = min(times) * 1e3, statistics.median(times) * 1e3
    print(f"{name:18s} f32  {best:9.1f} ms/step (median {median:.1f})  "
          f"{B * T / best * 1e3:9.0f} tok/s  loss {loss.item():.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=list(CONFIGS))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"PyTorch {torch.__version__}, {a.threads} threads")
    for name in CONFIGS:
        if a.only in (None, name):
            bench(name, a.steps if name == "shakespeare-char" else max(3, a.steps // 5), a.warmup)


if __name__ == "__main__":
    main()
