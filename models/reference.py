#!/usr/bin/env python3
"""The golden oracle: a deliberately plain PyTorch implementation of docs/method.md.

    /usr/bin/python3 models/reference.py                 # write test/fixtures/golden/<model>.json
    /usr/bin/python3 models/reference.py --out DIR       # ... somewhere else (byte-identical)
    /usr/bin/python3 models/reference.py --cards         # fill the accuracy tables of the model cards
    /usr/bin/python3 models/reference.py --families M    # fixtures of random Llama/Mistral/Qwen/NeoX/GPT-J checkpoints
                                                         # (npm run golden:regen runs it via scripts/golden-families.ts)
    /usr/bin/python3 models/reference.py --mutants DIR   # show the families' self-check catching misread layouts

It shares nothing with the TypeScript engine. It reads the zoo checkpoints from their files,
computes in float64, ablates a head by zeroing its rows of the attention output projection (a new
weight matrix per head, one forward per head), and scores every FFN neuron by projecting
r + m_k * W_out[k] through the frozen final norm and the unembedding, one neuron at a time in
vectorised form (no U-matrix shortcut). Cases are grouped by prefix length so no padding is used.

Determinism: one thread, fixed seeds, float64; the output is byte-identical from run to run with
the same torch build.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arith  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ZOO = ("arith-2l-d64", "arith-3l-d96", "arith-4l-d128")
GOLDEN_TEMPLATE = 4
GOLDEN_DIGITS = 1
DENSE_CASES = 20  # cases per cell whose dense per-neuron scores are written
VERIFY_K = 10
VERIFY_SEED = 1234
DTYPE = torch.float64


# ---------------------------------------------------------------------------------------------
# Checkpoint


class Model:
    def __init__(self, model_dir: Path):
        self.dir = model_dir
        self.config = json.loads((model_dir / "config.json").read_text())
        assert self.config["model_type"] == "gpt2"
        raw = arith.read_safetensors(model_dir / "model.safetensors")
        self.w = {}
        for name, (shape, data) in raw.items():
            key = name.removeprefix("transformer.")
            self.w[key] = torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(shape).to(DTYPE)
        self.L = self.config["n_layer"]
        self.H = self.config["n_head"]
        self.D = self.config["n_embd"]
        self.F = self.config.get("n_inner") or 4 * self.D
        self.dh = self.D // self.H
        self.eps = self.config["layer_norm_epsilon"]
        self.digest = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
        self.table = arith.load_vocab(model_dir)

    # What golden_cell uses of a model; decoders.Decoder has the same for the other families.
    def forward(self, ids: torch.Tensor, **kwargs) -> dict[str, torch.Tensor]:
        return forward(self, ids, **kwargs)

    def project(self, u: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """logits(u) = W_U (g * (u - mean(u)) / s), final-norm bias dropped; u [..., D], scale broadcast."""
        centred = u - u.mean(-1, keepdim=True)
        return (self.w["ln_f.weight"] * centred / scale) @ self.w["wte.weight"].T

    def w_out(self, l: int) -> torch.Tensor:
        """[F, D]: row k is what neuron k writes per unit of coefficient (GPT-2's Conv1D stores it so)."""
        return self.w[f"h.{l}.mlp.c_proj.weight"]


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def forward(model: Model, ids: torch.Tensor, ablate: tuple[int, int] | None = None,
            neuron_keep: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Plain GPT-2 forward over unpadded sequences ids [B, T]; returns values at the last position.

    ablate: (layer, head) whose rows of that layer's attn.c_proj.weight are zeroed.
    neuron_keep: [B, L, F] multiplier on the FFN coefficients at every position (1 keeps, 0 zeroes).
    """
    w, (B, T) = model.w, ids.shape
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]  # [B, T, D]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    out = {k: [] for k in ("resid_pre", "resid_mid", "attn_out", "mlp_post", "mlp_out", "head_out")}
    for l in range(model.L):
        p = f"h.{l}."
        out["resid_pre"].append(x[:, -1])
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], model.eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = (t.reshape(B, T, model.H, model.dh).transpose(1, 2) for t in qkv.split(model.D, dim=-1))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(model.dh)
        z = (scores.masked_fill(~causal, float("-inf")).softmax(-1) @ v).transpose(1, 2)  # [B, T, H, dh]
        w_o = w[p + "attn.c_proj.weight"]  # [D (in, head-major), D]
        if ablate is not None and ablate[0] == l:
            w_o = w_o.clone()
            w_o[ablate[1] * model.dh : (ablate[1] + 1) * model.dh] = 0.0
        # Per-head contribution at the last position, without the output bias (docs/method.md §6).
        out["head_out"].append(torch.stack(
            [z[:, -1, hh] @ w_o[hh * model.dh : (hh + 1) * model.dh] for hh in range(model.H)], dim=1))
        attn = z.reshape(B, T, model.D) @ w_o + w[p + "attn.c_proj.bias"]
        out["attn_out"].append(attn[:, -1])
        x = x + attn
        out["resid_mid"].append(x[:, -1])
        h2 = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], model.eps)
        m = gelu_new(h2 @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])  # [B, T, F]
        if neuron_keep is not None:
            m = m * neuron_keep[:, l][:, None, :]
        out["mlp_post"].append(m[:, -1])
        mlp = m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        out["mlp_out"].append(mlp[:, -1])
        x = x + mlp
    final = x[:, -1]
    var = ((final - final.mean(-1, keepdim=True)) ** 2).mean(-1)
    result = {k: torch.stack(v, dim=1) for k, v in out.items()}
    result["final_scale"] = torch.sqrt(var + model.eps)  # [B]
    result["logits"] = layer_norm(final, w["ln_f.weight"], w["ln_f.bias"], model.eps) @ w["wte.weight"].T
    return result


def run_cases(model: Model, cases: list[arith.Case], **kwargs) -> dict[str, torch.Tensor]:
    """forward() over cases of different lengths, grouped by length; rows in case order.

    neuron_keep, if given, is [N, L, F] in case order and is split across the groups.
    """
    keep = kwargs.pop("neuron_keep", None)
    by_len: dict[int, list[int]] = {}
    for i, c in enumerate(cases):
        by_len.setdefault(len(c.prefix_ids), []).append(i)
    parts, order = [], []
    for _, idx in sorted(by_len.items()):
        ids = torch.tensor([cases[i].prefix_ids for i in idx])
        parts.append(model.forward(ids, neuron_keep=None if keep is None else keep[idx], **kwargs))
        order += idx
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return {k: torch.cat([p[k] for p in parts])[inverse] for k in parts[0]}


# ---------------------------------------------------------------------------------------------
# docs/method.md §2-§5


def top1(logits: torch.Tensor) -> torch.Tensor:
    """Lowest id among equal maxima (torch.argmax returns the first maximal index)."""
    return logits.argmax(-1)


def correctness(model: Model, cases: list[arith.Case], **kwargs) -> tuple[torch.Tensor, torch.Tensor, dict]:
    res = run_cases(model, cases, **kwargs)
    targets = torch.tensor([c.target for c in cases])
    correct = top1(res["logits"]) == targets
    prob = res["logits"].softmax(-1).gather(1, targets[:, None])[:, 0]
    return correct, prob, res


def log_prob(model: Model, u: torch.Tensor, scale: torch.Tensor, w: int) -> torch.Tensor:
    return model.project(u, scale).log_softmax(-1)[..., w]


def neuron_importance(model: Model, res: dict, i: int, scale: torch.Tensor, w: int) -> torch.Tensor:
    """Imp(l, k) for every FFN neuron of case i, naive: one full projection per neuron. [L, F]"""
    rows = []
    for l in range(model.L):
        r = res["resid_mid"][i, l]  # [D]
        w_out = model.w_out(l)  # [F, D]
        subvalues = res["mlp_post"][i, l][:, None] * w_out  # [F, D]
        base = log_prob(model, r, scale, w)
        rows.append(log_prob(model, r[None, :] + subvalues, scale, w) - base)
    return torch.stack(rows)


def layer_importances(model: Model, res: dict, i: int, scale: torch.Tensor, w: int) -> dict[str, list]:
    attn, ffn, heads = [], [], []
    for l in range(model.L):
        x, r = res["resid_pre"][i, l], res["resid_mid"][i, l]
        base_x = log_prob(model, x, scale, w)
        attn.append(log_prob(model, x + res["attn_out"][i, l], scale, w) - base_x)
        heads.append(log_prob(model, x[None, :] + res["head_out"][i, l], scale, w) - base_x)
        ffn.append(log_prob(model, r + res["mlp_out"][i, l], scale, w) - log_prob(model, r, scale, w))
    return {"attn": torch.stack(attn), "ffn": torch.stack(ffn), "heads": torch.stack(heads)}


def rank_heads(model: Model, cases: list[arith.Case], base_acc: float) -> list[dict]:
    heads = []
    for l in range(model.L):
        for h in range(model.H):
            correct, prob, _ = correctness(model, cases, ablate=(l, h))
            acc = correct.double().mean().item()
            drop = base_acc - acc
            heads.append({"layer": l, "head": h, "accuracy": acc, "accuracyDrop": drop,
                          "relativeDrop": drop / base_acc if base_acc > 0 else 0.0,
                          "meanProbCorrect": prob.mean().item()})
    heads.sort(key=lambda e: (e["accuracy"], e["meanProbCorrect"], e["layer"], e["head"]))
    return heads


def top_k(scores: torch.Tensor, k: int) -> list[int]:
    """Flat indices (layer * F + neuron) of the k highest scores; ties by lower index."""
    flat = scores.flatten().tolist()
    return sorted(range(len(flat)), key=lambda j: (-flat[j], j))[:k]


# mulberry32 and FNV-1a, bit for bit as core/rng.ts.
def fnv1a(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def derive_seed(seed: int, *parts) -> int:
    return fnv1a("|".join(str(p) for p in (seed, *parts)))


class Mulberry32:
    def __init__(self, seed: int):
        self.state = seed & 0xFFFFFFFF

    def next(self) -> float:
        self.state = (self.state + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & 0xFFFFFFFF
        t ^= (t + ((t ^ (t >> 7)) * (t | 61) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    def randint(self, n: int) -> int:
        return math.floor(self.next() * n)


def sample_without_replacement(n: int, k: int, rng: Mulberry32) -> list[int]:
    pool = list(range(n))
    for i in range(k):
        j = i + rng.randint(n - i)
        pool[i], pool[j] = pool[j], pool[i]
    return sorted(pool[:k])


def verification(model: Model, cases: list[arith.Case], topk_per_case: list[list[int]], head_layer: int,
                 base_acc: float) -> dict:
    n, L, F = len(cases), model.L, model.F
    mask = torch.ones(n, L, F, dtype=DTYPE)
    keep = torch.ones(n, L, F, dtype=DTYPE)
    keep[:, head_layer:] = 0.0
    rand = torch.ones(n, L, F, dtype=DTYPE)
    for i, chosen in enumerate(topk_per_case):
        rng = Mulberry32(derive_seed(VERIFY_SEED, "random", i))  # i is the case id
        per_layer = [0] * L
        for j in chosen:
            mask[i, j // F, j % F] = 0.0
            keep[i, j // F, j % F] = 1.0
            per_layer[j // F] += 1
        for l, count in enumerate(per_layer):
            for k in sample_without_replacement(F, count, rng):
                rand[i, l, k] = 0.0
    out = {"k": len(topk_per_case[0]), "seed": VERIFY_SEED}
    for name, keep_mask in (("mask", mask), ("keep", keep), ("random", rand)):
        correct, _, _ = correctness(model, cases, neuron_keep=keep_mask)
        acc = correct.double().mean().item()
        out[name] = {"accuracy": acc, "relativeDecrease": (base_acc - acc) / base_acc if base_acc > 0 else 0.0}
    return out



def r6(x: float) -> float:
    # + 0.0 turns -0.0 into 0.0: the sign of a value that rounds to zero depends on the BLAS
    # kernel's summation order, which differs between processors, and would make the fixtures
    # differ byte for byte from one machine to the next.
    return round(float(x), 6) + 0.0


def golden_cell(model: Model, op: str, cases: list[arith.Case] | None = None, template: int = GOLDEN_TEMPLATE,
                fallbacks: list[bool] | None = None) -> dict:
    """One cell's fixture. Zoo models tokenize the cell's 1D pairs here; other checkpoints pass the
    cases (and each case's boundaryFallback) the engine's tokenizer made (reference_families.py)."""
    if cases is None:
        cases = arith.cases(arith.pairs(op, GOLDEN_DIGITS), template, model.table)
    correct, prob, orig = correctness(model, cases)
    base_acc = correct.double().mean().item()
    logits = orig["logits"]
    best2 = logits.topk(2, dim=-1).values
    predicted = top1(logits)
    heads = rank_heads(model, cases, base_acc)
    top = heads[0]
    _, _, abl = correctness(model, cases, ablate=(top["layer"], top["head"]))

    n = len(cases)
    dense_ids = sorted({round(i * (n - 1) / (DENSE_CASES - 1)) for i in range(DENSE_CASES)})
    dense = {"caseIds": dense_ids, "impOrig": [], "impAblated": [], "cna": [], "coefOrig": [], "coefAblated": [],
             "attnLayerImp": [], "ffnLayerImp": [], "headImp": []}
    topk_per_case = []
    for i in range(n):
        w, scale = int(predicted[i]), orig["final_scale"][i]
        imp_orig = neuron_importance(model, orig, i, scale, w)
        imp_abl = neuron_importance(model, abl, i, scale, w)  # original s and w (docs/method.md §4)
        cna = imp_orig - imp_abl
        topk_per_case.append(top_k(cna, VERIFY_K))
        if i in dense_ids:
            layers = layer_importances(model, orig, i, scale, w)
            dense["impOrig"].append([r6(v) for v in imp_orig.flatten().tolist()])
            dense["impAblated"].append([r6(v) for v in imp_abl.flatten().tolist()])
            dense["cna"].append([r6(v) for v in cna.flatten().tolist()])
            dense["coefOrig"].append([r6(v) for v in orig["mlp_post"][i].flatten().tolist()])
            dense["coefAblated"].append([r6(v) for v in abl["mlp_post"][i].flatten().tolist()])
            dense["attnLayerImp"].append([r6(v) for v in layers["attn"].tolist()])
            dense["ffnLayerImp"].append([r6(v) for v in layers["ffn"].tolist()])
            dense["headImp"].append([r6(v) for v in layers["heads"].flatten().tolist()])
    dense["topK"] = [topk_per_case[i] for i in dense_ids]

    return {
        "op": op,
        "digits": GOLDEN_DIGITS,
        "template": template,
        "target": "predicted",
        "cases": [
            {"id": i, "a": c.pair.a, "b": c.pair.b, "prompt": c.prompt, "answer": c.answer, "answerIndex": c.index,
             "prefixIds": list(c.prefix_ids), "target": c.target, "top1": int(predicted[i]),
             "correct": bool(correct[i]), "probCorrect": r6(prob[i]),
             "margin": r6(best2[i, 0] - best2[i, 1]), "finalScale": r6(orig["final_scale"][i]),
             **({} if fallbacks is None else {"boundaryFallback": fallbacks[i]})}
            for i, c in enumerate(cases)
        ],
        "baselineAccuracy": base_acc,
        "heads": [{**h, "accuracy": r6(h["accuracy"]), "accuracyDrop": r6(h["accuracyDrop"]),
                   "relativeDrop": r6(h["relativeDrop"]), "meanProbCorrect": r6(h["meanProbCorrect"])} for h in heads],
        "topHead": {"layer": top["layer"], "head": top["head"]},
        "dense": dense,
        "verification": verification(model, cases, topk_per_case, top["layer"], base_acc),
    }


def golden(model: Model) -> dict:
    c = model.config
    return {
        "model": model.dir.name,
        "generator": "models/reference.py",
        "precision": "float64",
        "modelDigest": model.digest,
        "shape": {"layers": model.L, "heads": model.H, "dModel": model.D, "dMlp": model.F, "vocab": c["vocab_size"]},
        "neuronIndex": "flat index = layer * dMlp + neuron",
        "denseRounding": 1e-6,
        "cells": [golden_cell(model, op) for op in arith.OPERATORS],
    }


# ---------------------------------------------------------------------------------------------
# Model-card accuracy: held-out cases, top-1 per answer token (docs/method.md §1).

CARD_DIGITS = {"+": (1, 2, 3), "-": (1, 2, 3), "*": (1, 2), "/": (1, 2)}
CARD_TEMPLATES = (3, 4)
CARD_MAX_PAIRS = 600


def card_accuracy(model: Model) -> dict:
    table = {}
    for op in arith.OPERATORS:
        for digits in CARD_DIGITS[op]:
            if digits == 3:  # 900 x 900 pairs: draw held-out pairs with a fixed seed
                rng, chosen = random.Random(f"card|{op}|3"), []
                while len(chosen) < CARD_MAX_PAIRS:
                    p = arith.Pair(op, rng.randint(100, 999), rng.randint(100, 999))
                    if arith.is_held_out(p):
                        chosen.append(p)
            else:
                chosen = [p for p in arith.pairs(op, digits) if digits == 1 or arith.is_held_out(p)]
            for template in CARD_TEMPLATES:
                correct, _, _ = correctness(model, arith.cases(chosen, template, model.table))
                table[f"{op} {digits}D t{template}"] = {
                    "op": op, "digits": digits, "template": template, "pairs": len(chosen),
                    "cases": len(correct), "accuracy": round(correct.double().mean().item(), 4),
                    "heldOut": digits > 1,
                }
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=list(ZOO), help="zoo model names (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "test" / "fixtures" / "golden")
    parser.add_argument("--zoo", type=Path, default=HERE, help="directory holding the model directories")
    parser.add_argument("--cards", action="store_true", help="measure accuracy into each model_card.json instead")
    parser.add_argument("--families", type=Path, metavar="MANIFEST",
                        help="write the family fixtures MANIFEST lists instead (scripts/golden-families.ts writes it)")
    parser.add_argument("--mutants", type=Path, nargs="+", metavar="DIR",
                        help="show that the families' self-check catches misread layouts in these checkpoints (JSON lines)")
    args = parser.parse_args()
    if args.families is not None or args.mutants is not None:
        import reference_families  # noqa: PLC0415 (only these modes read the other families)

        if args.mutants is not None:
            reference_families.print_mutants(args.mutants)
        else:
            reference_families.run_manifest(args.families)
        return
    for name in args.models:
        model = Model(args.zoo / name)
        if args.cards:
            card_path = model.dir / "model_card.json"
            card = json.loads(card_path.read_text())
            card["accuracy"] = card_accuracy(model)
            card["accuracyMeasuredBy"] = "models/reference.py --cards (float64, top-1 per answer token, held-out pairs for 2D/3D)"
            card_path.write_text(json.dumps(card, indent=2) + "\n")
            print(f"{name}: card accuracy written", file=sys.stderr)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(golden(model), separators=(",", ":")) + "\n")
        print(f"{name}: wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
