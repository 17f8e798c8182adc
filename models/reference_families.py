"""Golden fixtures for random checkpoints of every family (reference.py --families MANIFEST).

scripts/golden-families.ts writes each checkpoint (scripts/random-checkpoint.ts) into a temp
dir, builds each cell's cases with the engine's tokenizer and core's buildCases (Python has no
tokenizer library for the real tokenizers), and lists them in MANIFEST:

    {"checkpoints": [{"name", "dir", "out", "checkpoint": {generator options}, "tokenizer",
                      "cells": [{"op", "digits", "template", "cases": [{"a", "b", "prompt", "answer",
                                 "answerIndex", "prefixIds", "target", "boundaryFallback"}]}]}]}

Each checkpoint is read from its files (decoders.Decoder), each cell scored by
reference.golden_cell exactly as the zoo's are, and the logits of the original model and of the
top head's ablation are checked against decoders_check's second forward. Character-tokenizer
cases are also tokenized again here (arith.cases) and must match the manifest's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

import arith
import decoders_check
import reference
from decoders import Decoder


def manifest_cases(model_dir: Path, tokenizer: str, cell: dict) -> tuple[list[arith.Case], list[bool]]:
    cases = [arith.Case(arith.Pair(cell["op"], c["a"], c["b"]), cell["template"], c["prompt"], c["answer"],
                        c["answerIndex"], tuple(c["prefixIds"]), c["target"]) for c in cell["cases"]]
    if tokenizer == "char":
        pairs = list(dict.fromkeys(c.pair for c in cases))
        own = arith.cases(pairs, cell["template"], arith.load_vocab(model_dir))
        if [(c.prefix_ids, c.target) for c in own] != [(c.prefix_ids, c.target) for c in cases]:
            raise AssertionError(f"{model_dir}: the manifest's {cell['op']} cases differ from arith.cases on the same pairs")
    return cases, [bool(c["boundaryFallback"]) for c in cell["cases"]]


def self_check(model: Decoder, cases: list[arith.Case], ablate: tuple[int, int] | None) -> None:
    by_len: dict[int, list[arith.Case]] = {}
    for c in cases:
        by_len.setdefault(len(c.prefix_ids), []).append(c)
    for group in by_len.values():
        ids = torch.tensor([c.prefix_ids for c in group])
        decoders_check.check(model, ids, model.forward(ids, ablate=ablate)["logits"], ablate)


def family_golden(entry: dict) -> dict:
    model_dir = Path(entry["dir"])
    model = Decoder(model_dir)
    cells = []
    for cell in entry["cells"]:
        if cell["digits"] != reference.GOLDEN_DIGITS:
            raise ValueError(f"{entry['name']}: golden cells are {reference.GOLDEN_DIGITS}D")
        cases, fallbacks = manifest_cases(model_dir, entry["tokenizer"], cell)
        golden = reference.golden_cell(model, cell["op"], cases, cell["template"], fallbacks)
        self_check(model, cases, None)
        self_check(model, cases, (golden["topHead"]["layer"], golden["topHead"]["head"]))
        cells.append(golden)
    return {
        "model": entry["name"],
        "family": model.family,
        "generator": "models/reference.py",
        "precision": "float64",
        "checkpoint": entry["checkpoint"],
        "tokenizer": entry["tokenizer"],
        "files": model.files,
        "shape": {"layers": model.L, "heads": model.H, "kvHeads": model.KV, "headDim": model.dh, "dModel": model.D,
                  "dMlp": model.F, "vocab": model.vocab},
        "neuronIndex": "flat index = layer * dMlp + neuron",
        "denseRounding": 1e-6,
        "cells": cells,
    }


def run_manifest(path: Path) -> None:
    for entry in json.loads(path.read_text())["checkpoints"]:
        out = Path(entry["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(family_golden(entry), separators=(",", ":")) + "\n")
        print(f"{entry['name']}: wrote {out} ({out.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)


def print_mutants(model_dirs: list[Path]) -> None:
    """One JSON line per (checkpoint, misreading): whether the self-check catches it."""
    ids = torch.tensor([[1, 5, 9, 3, 14, 2, 7, 11, 4, 13, 6, 8]])  # 12 tokens every vocabulary has
    for model_dir in model_dirs:
        for row in decoders_check.run_mutants(Decoder(model_dir), ids):
            print(json.dumps(row))
