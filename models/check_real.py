#!/usr/bin/env python3
"""Checks a real-tokenizer zoo model from its files alone, and measures its card's accuracy.

    /usr/bin/python3 models/check_real.py arith-llama-3l-d96            # check, print accuracy
    /usr/bin/python3 models/check_real.py arith-llama-3l-d96 --cards    # ... and write it to the card

It reads config.json and model.safetensors (F32, F16 or BF16, decoded here with numpy, not by
the trainer's reader) and runs a plain float64 forward written from transformers' Llama / Qwen2
equations, sharing no model code with train_real.py: RMSNorm w * x / sqrt(mean(x^2) + eps);
rotary on q and k in the rotate-half layout (angles pos * theta^(-2i/d_head), i < d_head/2,
repeated over both halves; x*cos + [-x2, x1]*sin); key/value head j serving query heads
j*G .. j*G+G-1; softmax(q k^T / sqrt(d_head)) with a causal mask; SwiGLU MLP; final RMSNorm
and lm_head (embed_tokens when tie_word_embeddings). Top-1 is the argmax over the FULL
vocabulary, lowest id first among equal maxima.

Cases are the engine's: the card pairs of train_real.py tokenized by scripts/zoo-cases.ts. When
the trainer's own top-1 per case is at hand (scratch/train/zoo/<name>.top1.json, written at
export), every case is compared and any disagreement is listed; the exported weights are
rounded to F16/BF16, so a case whose two best logits were nearly tied may flip.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_real  # noqa: E402  (pairs and tokenization only; no model code)

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
F64 = torch.float64


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = np.frombuffer(data, dtype=np.uint8, count=end - start, offset=8 + n + start)
        if info["dtype"] == "F32":
            values = raw.view("<f4")
        elif info["dtype"] == "F16":
            values = raw.view("<f2")
        elif info["dtype"] == "BF16":  # the high 16 bits of a float32
            values = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name} has dtype {info['dtype']}")
        out[name] = torch.from_numpy(values.astype(np.float64).reshape(info["shape"]))
    return out


class Checkpoint:
    def __init__(self, model_dir: Path):
        self.config = c = json.loads((model_dir / "config.json").read_text())
        if c["model_type"] not in ("llama", "qwen2"):
            raise ValueError(f"{model_dir}: model_type {c['model_type']!r} is not llama or qwen2")
        self.w = read_weights(model_dir / "model.safetensors")
        self.L, self.D = c["num_hidden_layers"], c["hidden_size"]
        self.H, self.KV = c["num_attention_heads"], c["num_key_value_heads"]
        self.dh = c.get("head_dim") or self.D // self.H
        self.eps, self.theta = c["rms_norm_eps"], c["rope_theta"]
        self.dtype = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}[c["torch_dtype"]]
        tied = c.get("tie_word_embeddings", False)
        has_head = "lm_head.weight" in self.w
        if tied == has_head:
            raise ValueError(f"{model_dir}: tie_word_embeddings is {tied} but lm_head.weight is {'present' if has_head else 'absent'}")
        self.unembed = self.w["model.embed_tokens.weight" if tied else "lm_head.weight"]
        if self.unembed.shape[0] != c["vocab_size"]:
            raise ValueError(f"{model_dir}: {self.unembed.shape[0]} unembedding rows, vocab_size {c['vocab_size']}")


def rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return w * x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def linear(w: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    y = x @ w[name + ".weight"].T
    return y + w[name + ".bias"] if name + ".bias" in w else y


def last_logits(m: Checkpoint, ids: torch.Tensor) -> torch.Tensor:
    """ids [B, T] -> logits [B, vocab] at the last position."""
    w, (B, T) = m.w, ids.shape
    x = w["model.embed_tokens.weight"][ids]  # [B, T, D]
    half = m.dh // 2
    angle = torch.arange(T, dtype=F64)[:, None] * m.theta ** (-torch.arange(half, dtype=F64) * 2 / m.dh)[None, :]
    cos, sin = torch.cat([angle.cos()] * 2, -1), torch.cat([angle.sin()] * 2, -1)  # [T, dh]

    def rope(t: torch.Tensor) -> torch.Tensor:  # [B, heads, T, dh]
        return t * cos + torch.cat((-t[..., half:], t[..., :half]), -1) * sin

    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    for l in range(m.L):
        p = f"model.layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"], m.eps)
        q = rope(linear(w, p + "self_attn.q_proj", h).view(B, T, m.H, m.dh).transpose(1, 2))
        k = rope(linear(w, p + "self_attn.k_proj", h).view(B, T, m.KV, m.dh).transpose(1, 2))
        v = linear(w, p + "self_attn.v_proj", h).view(B, T, m.KV, m.dh).transpose(1, 2)
        heads = []
        for hh in range(m.H):
            kv = hh // (m.H // m.KV)
            s = (q[:, hh] @ k[:, kv].transpose(-1, -2)) / math.sqrt(m.dh)
            heads.append(s.masked_fill(future, -math.inf).softmax(-1) @ v[:, kv])  # [B, T, dh]
        x = x + linear(w, p + "self_attn.o_proj", torch.cat(heads, -1))
        h = rms(x, w[p + "post_attention_layernorm.weight"], m.eps)
        gate, up = linear(w, p + "mlp.gate_proj", h), linear(w, p + "mlp.up_proj", h)
        x = x + linear(w, p + "mlp.down_proj", gate * torch.sigmoid(gate) * up)
    return rms(x[:, -1], w["model.norm.weight"], m.eps) @ m.unembed.T


def top1(m: Checkpoint, prefixes: list[list[int]]) -> list[int]:
    out = [0] * len(prefixes)
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prefixes):
        by_len.setdefault(len(p), []).append(i)
    for _, idx in sorted(by_len.items()):
        for chunk in range(0, len(idx), 256):
            part = idx[chunk : chunk + 256]
            best = last_logits(m, torch.tensor([prefixes[i] for i in part])).argmax(-1)  # first maximum
            for i, v in zip(part, best.tolist()):
                out[i] = v
    return out


def check(name: str, zoo: Path, write_card: bool) -> bool:
    model_dir = zoo / name
    m = Checkpoint(model_dir)
    cases = train_real.tokenize_sets(model_dir, train_real.pair_sets("card", train_real.card_pairs()), train_real.CASES_CACHE)
    trained_path = train_real.state_dir(zoo) / f"{name}.top1.json"
    trained = json.loads(trained_path.read_text()) if trained_path.exists() else None
    table, compared, disagree = {}, 0, []
    for key, rows in cases["sets"].items():
        _, op, d, t = key.split("|")
        cell = f"{op} {d}D t{t}"
        prefixes = [prompt + answer[:i] for prompt, answer, _ in rows for i in range(len(answer))]
        targets = [tok for _, answer, _ in rows for tok in answer]
        tops = top1(m, prefixes)
        correct = sum(int(a == b) for a, b in zip(tops, targets))
        table[cell] = {"op": op, "digits": int(d), "template": int(t), "pairs": len(rows), "cases": len(targets),
                       "accuracy": round(correct / len(targets), 4), "heldOut": int(d) > 1}
        fallbacks = sum(f for _, _, f in rows)
        if fallbacks:
            table[cell]["boundaryFallbacks"] = fallbacks
        if trained is not None:
            compared += len(tops)
            disagree += [(cell, i, a, b) for i, (a, b) in enumerate(zip(tops, trained[cell])) if a != b]
        print(f"{name} [{cell}] {correct}/{len(targets)} = {correct / len(targets):.4f}", file=sys.stderr, flush=True)
    ok = True
    if trained is None:
        print(f"{name}: no {trained_path}; the training model's top-1 was not compared", file=sys.stderr)
    else:
        print(f"{name}: export (float64, from the files) and training model agree on {compared - len(disagree)}/{compared} cases",
              file=sys.stderr)
        for cell, i, a, b in disagree[:20]:
            print(f"  [{cell}] case {i}: export {a} ({cases['tokens'].get(str(a), '?')!r}), training {b}", file=sys.stderr)
        # Rounding the weights to 16 bits may flip near-ties, nothing more: at most 1 case in 1,000
        # for float16 (11 significant bits), 1 in 200 for bfloat16 (8, so 8 times the rounding
        # error). A garbled export disagrees on most cases.
        allowed = compared // (200 if m.dtype == "BF16" else 1000)
        print(f"{name}: {len(disagree)} disagreements, {allowed} allowed for {m.dtype} weights", file=sys.stderr)
        ok = len(disagree) <= allowed
    if write_card:
        card_path = model_dir / "model_card.json"
        card = json.loads(card_path.read_text())
        card["accuracy"] = table
        card["accuracyMeasuredBy"] = ("models/check_real.py --cards (float64 forward from the safetensors files, top-1 over the "
                                      "full vocabulary per answer token, held-out pairs for 2D/3D)")
        card_path.write_text(json.dumps(card, indent=2) + "\n")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=[s.name for s in train_real.SPECS])
    parser.add_argument("--zoo", type=Path, default=train_real.REAL_ZOO, help="directory holding the model directories (default: models/)")
    parser.add_argument("--cards", action="store_true", help="write the measured accuracy into each model_card.json")
    args = parser.parse_args()
    results = [check(name, args.zoo.resolve(), args.cards) for name in args.names]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
