"""The arithmetic tasks of docs/method.md §1, in plain Python.

Shared by the zoo trainer (train.py) and the golden oracle (reference.py). Nothing here
imports the TypeScript code; core/tasks.ts implements the same rules independently and the
golden fixtures prove the two agree (same prompts, same token ids).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

OPERATORS = ("+", "-", "*", "/")

TEMPLATES = {
    "+": ("The sum of {a} and {b} is", "Q: What is {a} plus {b}? A:", "{a} plus {b} is", "{a}+{b}="),
    "-": ("The difference between {a} and {b} is", "Q: What is {a} minus {b}? A:", "{a} minus {b} is", "{a}-{b}="),
    "*": ("The product of {a} and {b} is", "Q: What is {a} times {b}? A:", "{a} times {b} is", "{a}*{b}="),
    "/": ("The ratio of {a} and {b} is", "Q: What is {a} divides {b}? A:", "{a} divides {b} is", "{a}/{b}="),
}

# Operand range per digit count (docs/method.md §1).
DIGIT_RANGES = {1: (0, 9), 2: (10, 99), 3: (100, 999)}

END_TOKEN = "<|endoftext|>"

# The zoo's character vocabulary: every character of every template, the digits and the minus
# sign. Id 0 is the end token (also used as padding; GPT-2 has no pad token).
VOCAB_CHARS = " 0123456789+-*/=?:AQTWabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Pair:
    op: str
    a: int  # first operand as written in the prompt (for "/", the dividend a*b)
    b: int  # second operand as written (for "/", the divisor)

    @property
    def result(self) -> int:
        if self.op == "+":
            return self.a + self.b
        if self.op == "-":
            return self.a - self.b
        if self.op == "*":
            return self.a * self.b
        return self.a // self.b


def pairs(op: str, digits: int) -> list[Pair]:
    """Every operand pair of a cell, in canonical order (first operand, then second)."""
    lo, hi = DIGIT_RANGES[digits]
    if op == "/":
        # The range applies to the quotient q and the divisor d; the prompt shows q*d / d.
        lo_d = max(lo, 1)
        return [Pair("/", q * d, d) for d in range(lo_d, hi + 1) for q in range(lo, hi + 1)]
    return [Pair(op, a, b) for a in range(lo, hi + 1) for b in range(lo, hi + 1)]


def prompt(pair: Pair, template: int) -> str:
    """Template 1-3 end in "is" or "A:" and are followed by one space, which belongs to the prompt."""
    text = TEMPLATES[pair.op][template - 1].format(a=pair.a, b=pair.b)
    return text if template == 4 else text + " "


def answer(pair: Pair) -> str:
    return str(pair.result)


def is_held_out(pair: Pair) -> bool:
    """One pair in ten of every 2D and 3D cell never appears in training (1D cells are finite tables)."""
    return zlib.crc32(f"{pair.op}|{pair.a}|{pair.b}".encode()) % 10 == 0


# ---------------------------------------------------------------------------------------------
# Tokenizer: a character-level tokenizer written in Hugging Face tokenizer.json format.


def vocab() -> dict[str, int]:
    table = {END_TOKEN: 0}
    for i, ch in enumerate(VOCAB_CHARS):
        table[ch] = i + 1
    return table


def encode(text: str, table: dict[str, int]) -> list[int]:
    """Character-level encoding, as the HF BPE model with no merges does it."""
    try:
        return [table[ch] for ch in text]
    except KeyError as err:
        raise ValueError(f"character {err.args[0]!r} is not in the zoo vocabulary") from None


def load_vocab(model_dir: Path) -> dict[str, int]:
    spec = json.loads((model_dir / "tokenizer.json").read_text())
    return dict(spec["model"]["vocab"])


def tokenizer_json() -> dict:
    table = vocab()
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": 0, "content": END_TOKEN, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
        ],
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Fuse"},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "vocab": table, "merges": [],
        },
    }


def tokenizer_config(n_positions: int) -> dict:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": END_TOKEN,
        "eos_token": END_TOKEN,
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "model_max_length": n_positions,
        "clean_up_tokenization_spaces": False,
    }


# ---------------------------------------------------------------------------------------------
# Cases (docs/method.md §1): one teacher-forced case per answer token.


@dataclass(frozen=True)
class Case:
    pair: Pair
    template: int
    prompt: str
    answer: str
    index: int  # which answer token this case predicts
    prefix_ids: tuple[int, ...]
    target: int


def cases(pair_list: list[Pair], template: int, table: dict[str, int]) -> list[Case]:
    out = []
    for pair in pair_list:
        text, ans = prompt(pair, template), answer(pair)
        prompt_ids, answer_ids = encode(text, table), encode(ans, table)
        for i, target in enumerate(answer_ids):
            out.append(Case(pair, template, text, ans, i, tuple(prompt_ids + answer_ids[:i]), target))
    return out


# ---------------------------------------------------------------------------------------------
# safetensors, written and read by hand (the format is an 8-byte little-endian header length, a
# JSON header, then the raw little-endian tensor bytes).


def write_safetensors(path: Path, tensors: dict[str, "object"]) -> None:
    """tensors: name -> float32 torch tensor. Names are written in sorted order, offsets packed."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path: Path) -> dict[str, tuple[list[int], bytes]]:
    """name -> (shape, raw little-endian F32 bytes): the zoo's own files, F32 only."""
    out = {}
    for name, (dtype, shape, raw) in read_safetensors_any(path).items():
        if dtype != "F32":
            raise ValueError(f"{path}: tensor {name} has dtype {dtype}; the zoo writes F32")
        out[name] = (shape, raw)
    return out


# Hugging Face checkpoints of the other families (made by scripts/random-checkpoint.ts): any of
# the float dtypes, one model.safetensors or shards listed by model.safetensors.index.json.
DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2}
INDEX_FILE = "model.safetensors.index.json"


def read_safetensors_any(path: Path) -> dict[str, tuple[str, list[int], bytes]]:
    """name -> (dtype, shape, raw little-endian bytes), for F32, F16 and BF16 tensors."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape = info["dtype"], info["shape"]
        if dtype not in DTYPE_BYTES:
            raise ValueError(f"{path}: tensor {name} has dtype {dtype}; expected one of {sorted(DTYPE_BYTES)}")
        start, end = info["data_offsets"]
        count = 1
        for d in shape:
            count *= d
        if end - start != count * DTYPE_BYTES[dtype] or base + end > len(data):
            raise ValueError(f"{path}: tensor {name}'s offsets do not match its shape {shape} and dtype {dtype}")
        out[name] = (dtype, shape, data[base + start : base + end])
    return out


def weight_files(model_dir: Path) -> list[Path]:
    """model.safetensors, or the shards the index names, in order."""
    index = model_dir / INDEX_FILE
    if not index.exists():
        return [model_dir / "model.safetensors"]
    weight_map = json.loads(index.read_text())["weight_map"]
    return [model_dir / f for f in sorted(set(weight_map.values()))]


def read_checkpoint(model_dir: Path) -> dict[str, tuple[str, list[int], bytes]]:
    """Every tensor of the checkpoint. With an index, each tensor must sit in the shard it names,
    no shard may hold a tensor the index leaves out, and total_size must be the tensors' bytes."""
    index_path = model_dir / INDEX_FILE
    tensors: dict[str, tuple[str, list[int], bytes]] = {}
    where: dict[str, str] = {}
    for path in weight_files(model_dir):
        for name, value in read_safetensors_any(path).items():
            if name in tensors:
                raise ValueError(f"{model_dir}: tensor {name} is in both {where[name]} and {path.name}")
            tensors[name], where[name] = value, path.name
    if index_path.exists():
        index = json.loads(index_path.read_text())
        if index["weight_map"] != where:
            raise ValueError(f"{index_path}: weight_map does not match the tensors the shards hold")
        total = sum(len(raw) for _, _, raw in tensors.values())
        if index["metadata"]["total_size"] != total:
            raise ValueError(f"{index_path}: total_size {index['metadata']['total_size']} but the tensors hold {total} bytes")
    return tensors
