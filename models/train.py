#!/usr/bin/env python3
"""Train the bundled zoo of tiny GPT-2 arithmetic models.

    python3 models/train.py --all            # every zoo model, as committed
    python3 models/train.py arith-2l-d64     # one model

Each model is written in Hugging Face GPT-2 layout under models/<name>/: config.json,
model.safetensors (HF key names, Conv1D weights [in, out]), tokenizer.json,
tokenizer_config.json, and model_card.json (architecture, seed, steps, wall time). The accuracy
table of the card is filled by `python3 models/reference.py --cards`, which measures it with an
independent forward pass.

Each model trains in two phases (see ZooSpec): the full task mixture, then a shorter run with
two-digit subtraction drawn more often. `--phase1-from DIR` continues from a phase-1 run kept in
DIR/<name> instead of repeating it.

Training is reproducible from the seed on a machine with the same torch build and thread count.
Uses Debian's python3-torch (CPU); install libopenblas0-pthread for speed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arith  # noqa: E402

HERE = Path(__file__).resolve().parent
N_POSITIONS = 64


@dataclass(frozen=True)
class ZooSpec:
    name: str
    n_layer: int
    n_head: int
    n_embd: int
    seed: int
    steps: int
    lr: float
    # Phase 2: a shorter run at a lower learning rate with two-digit subtraction (signed answers,
    # borrows) drawn more often; phase 1's mixture leaves it the weakest trained task.
    steps2: int
    lr2: float


ZOO = (
    ZooSpec("arith-2l-d64", n_layer=2, n_head=4, n_embd=64, seed=11, steps=6000, lr=3e-3, steps2=3000, lr2=1e-3),
    ZooSpec("arith-3l-d96", n_layer=3, n_head=6, n_embd=96, seed=22, steps=5000, lr=2e-3, steps2=2500, lr2=7e-4),
    ZooSpec("arith-4l-d128", n_layer=4, n_head=8, n_embd=128, seed=33, steps=4000, lr=1.5e-3, steps2=2000, lr2=5e-4),
)

# What the zoo is trained on (the scope): all four operators, 1D and 2D, 3D for + and -,
# templates 4 ("3+5=") and 3 ("3 plus 5 is ").
TRAIN_DIGITS = {"+": (1, 2, 3), "-": (1, 2, 3), "*": (1, 2), "/": (1, 2)}
TRAIN_TEMPLATES = (3, 4)
DIGIT_WEIGHTS = {1: 0.2, 2: 0.55, 3: 0.25}
OP_WEIGHTS = {"+": 1.0, "-": 1.0, "*": 1.0, "/": 1.0}
# Phase 2 (see ZooSpec): subtraction three times as often, two-digit operands most of all.
OP_WEIGHTS_2 = {"+": 1.0, "-": 3.0, "*": 1.0, "/": 1.0}
DIGIT_WEIGHTS_2 = {1: 0.1, 2: 0.7, 3: 0.2}
BATCH = 128


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class Conv1D(torch.nn.Module):
    """HF GPT-2's linear layer: weight stored [in, out]."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_in, n_out) * 0.02)
        self.bias = torch.nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


class Attention(torch.nn.Module):
    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head, self.c_attn, self.c_proj = n_head, Conv1D(d, 3 * d), Conv1D(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        heads = lambda z: z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2)  # noqa: E731
        q, k, v = heads(q), heads(k), heads(v)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.n_head)
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        att = att.masked_fill(~causal, float("-inf")).softmax(-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(b, t, d))


class Mlp(torch.nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.c_fc, self.c_proj = Conv1D(d, 4 * d), Conv1D(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(gelu_new(self.c_fc(x)))


class Block(torch.nn.Module):
    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.ln_1, self.attn = torch.nn.LayerNorm(d, eps=1e-5), Attention(d, n_head)
        self.ln_2, self.mlp = torch.nn.LayerNorm(d, eps=1e-5), Mlp(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(torch.nn.Module):
    def __init__(self, spec: ZooSpec, vocab_size: int):
        super().__init__()
        self.wte = torch.nn.Embedding(vocab_size, spec.n_embd)
        self.wpe = torch.nn.Embedding(N_POSITIONS, spec.n_embd)
        torch.nn.init.normal_(self.wte.weight, std=0.02)
        torch.nn.init.normal_(self.wpe.weight, std=0.01)
        self.h = torch.nn.ModuleList(Block(spec.n_embd, spec.n_head) for _ in range(spec.n_layer))
        self.ln_f = torch.nn.LayerNorm(spec.n_embd, eps=1e-5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [batch, pos] -> [batch, pos, vocab]
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied unembedding


class Gpt2(torch.nn.Module):
    """Module tree named so that state_dict() keys are HF GPT2LMHeadModel's."""

    def __init__(self, spec: ZooSpec, vocab_size: int):
        super().__init__()
        self.transformer = Transformer(spec, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.transformer(ids)


class Sampler:
    """Draws training sequences (prompt + answer + end token) with a seeded generator."""

    def __init__(self, seed: int, table: dict[str, int], ops: dict[str, float] = OP_WEIGHTS,
                 digits: dict[int, float] = DIGIT_WEIGHTS):
        self.rng, self.table, self.ops, self.digits = random.Random(seed), table, ops, digits
        self.pools = {
            (op, d): [p for p in arith.pairs(op, d) if d == 1 or not arith.is_held_out(p)]
            for op in arith.OPERATORS for d in TRAIN_DIGITS[op] if d < 3
        }

    def pair(self, op: str) -> arith.Pair:
        digits = TRAIN_DIGITS[op]
        d = self.rng.choices(digits, weights=[self.digits[x] for x in digits])[0]
        if d < 3:
            return self.rng.choice(self.pools[(op, d)])
        while True:  # 3D is too large to list; sample and reject held-out pairs
            p = arith.Pair(op, self.rng.randint(100, 999), self.rng.randint(100, 999))
            if not arith.is_held_out(p):
                return p

    def operator(self) -> str:
        # Uniform draws use choice() (as phase 1 always has), so phase 1's stream stays the same.
        if len(set(self.ops.values())) == 1:
            return self.rng.choice(arith.OPERATORS)
        return self.rng.choices(arith.OPERATORS, weights=[self.ops[o] for o in arith.OPERATORS])[0]

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        seqs, spans = [], []
        template = self.rng.choice(TRAIN_TEMPLATES)  # one template per batch keeps padding short
        for _ in range(size):
            pair = self.pair(self.operator())
            p = arith.encode(arith.prompt(pair, template), self.table)
            a = arith.encode(arith.answer(pair), self.table) + [0]
            seqs.append(p + a)
            spans.append((len(p), len(p) + len(a)))
        width = max(map(len, seqs))
        ids = torch.zeros(size, width, dtype=torch.long)
        loss_mask = torch.zeros(size, width - 1)
        for i, (seq, (start, end)) in enumerate(zip(seqs, spans)):
            ids[i, : len(seq)] = torch.tensor(seq)
            loss_mask[i, start - 1 : end - 1] = 1.0  # positions whose next token is answer or end
        return ids, loss_mask


def train(spec: ZooSpec, out_root: Path, threads: int, phase1_from: Path | None) -> None:
    torch.manual_seed(spec.seed)
    torch.set_num_threads(threads)
    table = arith.vocab()
    model = Gpt2(spec, len(table))
    if phase1_from is None:
        wall1 = run_phase(spec, model, Sampler(spec.seed, table), spec.steps, spec.lr, 200, "phase 1")
    else:
        # Phase 1 already ran (same spec, same seed): continue from its weights.
        wall1 = load_phase1(model, phase1_from / spec.name)
    wall2 = run_phase(spec, model, Sampler(spec.seed + 1, table, OP_WEIGHTS_2, DIGIT_WEIGHTS_2), spec.steps2, spec.lr2, 100, "phase 2")
    save(spec, model, out_root / spec.name, wall1 + wall2, threads)


def load_phase1(model: Gpt2, phase1_dir: Path) -> float:
    weights = arith.read_safetensors(phase1_dir / "model.safetensors")
    state = {name: torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(shape) for name, (shape, data) in weights.items()}
    model.load_state_dict(state)
    card = json.loads((phase1_dir / "model_card.json").read_text())
    print(f"{phase1_dir.name}: phase 1 weights loaded from {phase1_dir}", file=sys.stderr)
    return float(card["training"]["wall_time_s"])


def run_phase(spec: ZooSpec, model: Gpt2, sampler: "Sampler", steps: int, lr: float, warmup: int, phase: str) -> float:
    """AdamW from a fresh state, linear warm-up then cosine decay to 10% of lr; returns wall seconds."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    schedule = lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * s / steps)))  # noqa: E731
    started = time.time()
    for step in range(steps):
        ids, mask = sampler.batch(BATCH)
        logits = model(ids[:, :-1])
        loss = (F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none") * mask).sum() / mask.sum()
        for group in opt.param_groups:
            group["lr"] = lr * schedule(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 250 == 0 or step == steps - 1:
            print(f"{spec.name} {phase} step {step}/{steps} loss {loss.item():.4f} "
                  f"({time.time() - started:.0f}s)", file=sys.stderr, flush=True)
    return time.time() - started


def save(spec: ZooSpec, model: Gpt2, out: Path, wall_s: float, threads: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v for k, v in model.state_dict().items()}
    arith.write_safetensors(out / "model.safetensors", state)
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "n_layer": spec.n_layer,
        "n_head": spec.n_head,
        "n_embd": spec.n_embd,
        "n_inner": 4 * spec.n_embd,
        "n_positions": N_POSITIONS,
        "n_ctx": N_POSITIONS,
        "vocab_size": len(arith.vocab()),
        "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new",
        "tie_word_embeddings": True,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "tokenizer.json").write_text(json.dumps(arith.tokenizer_json(), indent=2, ensure_ascii=False) + "\n")
    (out / "tokenizer_config.json").write_text(json.dumps(arith.tokenizer_config(N_POSITIONS), indent=2) + "\n")
    card_path = out / "model_card.json"
    card = {
        "name": spec.name,
        "architecture": {k: config[k] for k in ("model_type", "n_layer", "n_head", "n_embd", "n_inner", "n_positions", "vocab_size", "activation_function")},
        "parameters": sum(v.numel() for v in state.values()),
        "training": {
            "seed": spec.seed, "steps": spec.steps + spec.steps2, "batch": BATCH,
            "phases": [
                {"steps": spec.steps, "lr": spec.lr, "warmup": 200, "operators": OP_WEIGHTS, "digits": DIGIT_WEIGHTS},
                {"steps": spec.steps2, "lr": spec.lr2, "warmup": 100, "operators": OP_WEIGHTS_2, "digits": DIGIT_WEIGHTS_2},
            ],
            "optimizer": "AdamW(0.9, 0.98), wd 0.01, fresh each phase; linear warm-up, cosine to 10% of lr",
            "wall_time_s": round(wall_s, 1), "threads": threads, "torch": torch.__version__,
            "operators": {op: list(d) for op, d in TRAIN_DIGITS.items()}, "templates": list(TRAIN_TEMPLATES),
            "held_out": "crc32('op|a|b') % 10 == 0 for 2D and 3D pairs; 1D cells are finite tables and are all trained on",
        },
        "accuracy": None,
    }
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {out} ({wall_s:.0f}s)", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="zoo models to train: " + ", ".join(s.name for s in ZOO))
    parser.add_argument("--all", action="store_true", help="train every zoo model")
    parser.add_argument("--out", type=Path, default=HERE, help="where model directories go (default: models/)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("CNA_TRAIN_THREADS", "1")),
                        help="torch threads per model (1 is fastest for models this small)")
    parser.add_argument("--steps", type=int, help="override phase 1's step count (for quick experiments)")
    parser.add_argument("--phase1-from", type=Path, help="skip phase 1: continue from DIR/<name>, a phase-1 run of the same spec")
    args = parser.parse_args()
    known = {s.name: s for s in ZOO}
    names = list(known) if args.all else args.names
    if not names:
        parser.error("name a zoo model or pass --all")
    for name in names:
        if name not in known:
            parser.error(f"unknown zoo model {name!r}; known: {', '.join(known)}")
        spec = known[name]
        if args.steps:
            spec = ZooSpec(**{**spec.__dict__, "steps": args.steps})
        train(spec, args.out, args.threads, args.phase1_from)


if __name__ == "__main__":
    main()
