"""Llama and Qwen2 decoder models for the real-tokenizer zoo, laid out as Hugging Face's.

The equations follow transformers' LlamaForCausalLM and Qwen2ForCausalLM (modeling_llama.py,
modeling_qwen2.py): pre-norm blocks x + attn(RMSNorm(x)), then x + mlp(RMSNorm(x)); RMSNorm is
w * x / sqrt(mean(x^2) + eps), no bias, no mean subtraction; rotary position embedding in the
rotate-half layout (inv_freq_i = theta^(-2i/d_head) for i < d_head/2, the angles repeated over
both halves, q*cos + rotate_half(q)*sin with rotate_half(x) = [-x2, x1]) on q and k after their
projections; grouped-query attention where key/value head j serves query heads j*G .. j*G+G-1
(G = heads / kv heads, transformers' repeat_kv); scores scaled by 1/sqrt(d_head); SwiGLU MLP
down(silu(gate(x)) * up(x)) without biases. Llama here has no attention biases (attention_bias
false); Qwen2 has biases on q, k and v only. Linear weights are stored [out, in].

Training keeps only the embedding rows of the tokens the tasks use (`used`, ascending ids) as
parameters. export_state() writes full-size [vocab, d] matrices whose other rows are zero: those
tokens never occur in an input, and a zero unembedding row gives a logit of exactly 0, which the
training loss counts (full_vocab_loss), so top-1 over the full vocabulary is what was trained.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Arch:
    family: str  # "llama" or "qwen2"
    n_layer: int
    d_model: int
    n_head: int
    n_kv_head: int
    d_ff: int
    rms_eps: float
    rope_theta: float
    tied: bool  # tie_word_embeddings
    dtype: str  # safetensors dtype of the export: "F16", "BF16" or "F32"
    max_positions: int = 128

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_head

    @property
    def qkv_bias(self) -> bool:
        return self.family == "qwen2"


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotary(T: int, d_head: int, theta: float, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [T, d_head] for positions 0..T-1, each angle repeated over the two halves."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, d_head, 2, dtype=torch.int64).to(torch.float64) / d_head))
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, a: Arch):
        super().__init__()
        self.a = a
        lin = lambda n_in, n_out, bias=False: torch.nn.Linear(n_in, n_out, bias=bias)  # noqa: E731
        self.input_layernorm = torch.nn.Parameter(torch.ones(a.d_model))
        self.q_proj = lin(a.d_model, a.n_head * a.d_head, a.qkv_bias)
        self.k_proj = lin(a.d_model, a.n_kv_head * a.d_head, a.qkv_bias)
        self.v_proj = lin(a.d_model, a.n_kv_head * a.d_head, a.qkv_bias)
        self.o_proj = lin(a.n_head * a.d_head, a.d_model)
        self.post_attention_layernorm = torch.nn.Parameter(torch.ones(a.d_model))
        self.gate_proj = lin(a.d_model, a.d_ff)
        self.up_proj = lin(a.d_model, a.d_ff)
        self.down_proj = lin(a.d_ff, a.d_model)
        for m in (self.q_proj, self.k_proj, self.v_proj, self.o_proj, self.gate_proj, self.up_proj, self.down_proj):
            torch.nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, causal: torch.Tensor) -> torch.Tensor:
        a, (B, T, _) = self.a, x.shape
        h = rms_norm(x, self.input_layernorm, a.rms_eps)
        q = self.q_proj(h).view(B, T, a.n_head, a.d_head).transpose(1, 2)  # [B, H, T, dh]
        k = self.k_proj(h).view(B, T, a.n_kv_head, a.d_head).transpose(1, 2)  # [B, KV, T, dh]
        v = self.v_proj(h).view(B, T, a.n_kv_head, a.d_head).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        group = a.n_head // a.n_kv_head
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # [B, H, T, dh]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(a.d_head)
        z = scores.masked_fill(~causal, float("-inf")).softmax(-1) @ v  # [B, H, T, dh]
        x = x + self.o_proj(z.transpose(1, 2).reshape(B, T, a.n_head * a.d_head))
        h = rms_norm(x, self.post_attention_layernorm, a.rms_eps)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class CompactLM(torch.nn.Module):
    """The decoder over compact token indices 0..len(used)-1 (index i is token used[i])."""

    def __init__(self, a: Arch, used: list[int], vocab_size: int):
        super().__init__()
        self.a, self.used, self.vocab_size = a, list(used), vocab_size
        self.embed = torch.nn.Parameter(torch.randn(len(used), a.d_model) * 0.02)
        self.lm_head = None if a.tied else torch.nn.Parameter(torch.randn(len(used), a.d_model) * 0.02)
        self.layers = torch.nn.ModuleList(Layer(a) for _ in range(a.n_layer))
        self.norm = torch.nn.Parameter(torch.ones(a.d_model))

    def unembedding(self) -> torch.Tensor:
        return self.embed if self.lm_head is None else self.lm_head

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [B, T] compact ids -> [B, T, U] logits
        x = self.embed[ids]
        T = ids.shape[1]
        cos, sin = rotary(T, self.a.d_head, self.a.rope_theta, x.dtype)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        for layer in self.layers:
            x = layer(x, cos, sin, causal)
        return rms_norm(x, self.norm, self.a.rms_eps) @ self.unembedding().T

    def unused_count(self) -> int:
        return self.vocab_size - len(self.used)

    def export_state(self) -> dict[str, torch.Tensor]:
        """HF state dict: full-vocabulary embedding (and lm_head), zero rows for unused tokens."""
        index = torch.tensor(self.used)

        def full(rows: torch.Tensor) -> torch.Tensor:
            out = torch.zeros(self.vocab_size, self.a.d_model)
            out[index] = rows.detach()
            return out

        state = {"model.embed_tokens.weight": full(self.embed), "model.norm.weight": self.norm.detach().clone()}
        if self.lm_head is not None:
            state["lm_head.weight"] = full(self.lm_head)
        for i, layer in enumerate(self.layers):
            p = f"model.layers.{i}."
            state[p + "input_layernorm.weight"] = layer.input_layernorm.detach().clone()
            state[p + "post_attention_layernorm.weight"] = layer.post_attention_layernorm.detach().clone()
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                mod = getattr(layer, name)
                state[p + f"self_attn.{name}.weight"] = mod.weight.detach().clone()
                if mod.bias is not None:
                    state[p + f"self_attn.{name}.bias"] = mod.bias.detach().clone()
            for name in ("gate_proj", "up_proj", "down_proj"):
                state[p + f"mlp.{name}.weight"] = getattr(layer, name).weight.detach().clone()
        return state


def full_vocab_loss(logits: torch.Tensor, targets: torch.Tensor, unused: int) -> torch.Tensor:
    """Cross-entropy over the FULL vocabulary per position, from compact logits [..., U]: the
    `unused` tokens have logit exactly 0, so they add unused * exp(0) to the partition function."""
    lse = torch.logsumexp(logits, dim=-1)
    if unused > 0:
        lse = torch.logaddexp(lse, torch.full_like(lse, math.log(unused)))
    return lse - logits.gather(-1, targets[..., None])[..., 0]


def full_vocab_top1(logits: torch.Tensor, used: list[int], vocab_size: int) -> torch.Tensor:
    """Top-1 token id over the full vocabulary from compact logits [N, U]: every unused token
    scores 0, and among equal maxima the lowest id wins (as argmax over the full row does)."""
    used_t = torch.tensor(used)
    best = logits.argmax(-1)  # first maximal compact index = lowest id, since `used` is ascending
    best_val = logits.gather(-1, best[:, None])[:, 0]
    top = used_t[best]
    if vocab_size > len(used):
        taken = set(used)
        first_unused = next(i for i in range(vocab_size) if i not in taken)
        zero_wins = (best_val < 0) | ((best_val == 0) & (first_unused < top))
        top = torch.where(zero_wins, torch.full_like(top, first_unused), top)
    return top


# ---------------------------------------------------------------------------------------------
# Export: safetensors in F32 / F16 / BF16, and HF config.json.

TORCH_DTYPE = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
CONFIG_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def tensor_bytes(t: torch.Tensor, dtype: str) -> bytes:
    """Little-endian bytes; the cast rounds to nearest even, as torch's .to() does in HF saves."""
    assert sys.byteorder == "little", "safetensors is little-endian and this writer copies native bytes"
    cast = t.detach().contiguous().to(TORCH_DTYPE[dtype])
    if dtype == "BF16":
        cast = cast.view(torch.int16)  # numpy has no bfloat16: write the raw 16-bit patterns
    return cast.numpy().tobytes()


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], dtype: str) -> None:
    """One dtype for every tensor; names sorted, offsets packed, data 8-byte aligned."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensor_bytes(tensors[name], dtype)
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """name -> float64 tensor, from F32, F16 or BF16 data (every such value is exact in float64)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base, out = 8 + n, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = bytearray(data[base + start : base + end])
        if info["dtype"] == "F32":
            t = torch.frombuffer(raw, dtype=torch.float32)
        elif info["dtype"] == "F16":
            t = torch.frombuffer(raw, dtype=torch.float16)
        elif info["dtype"] == "BF16":
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}")
        out[name] = t.reshape(info["shape"]).to(torch.float64)
    return out


def hf_config(a: Arch, vocab_size: int, bos_id: int | None, eos_id: int | None) -> dict:
    """config.json with the keys transformers' LlamaConfig / Qwen2Config read."""
    common = {
        "vocab_size": vocab_size,
        "hidden_size": a.d_model,
        "intermediate_size": a.d_ff,
        "num_hidden_layers": a.n_layer,
        "num_attention_heads": a.n_head,
        "num_key_value_heads": a.n_kv_head,
        "hidden_act": "silu",
        "max_position_embeddings": a.max_positions,
        "initializer_range": 0.02,
        "rms_norm_eps": a.rms_eps,
        "use_cache": True,
        "rope_theta": a.rope_theta,
        "rope_scaling": None,
        "attention_dropout": 0.0,
        "tie_word_embeddings": a.tied,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "torch_dtype": CONFIG_DTYPE[a.dtype],
    }
    if a.family == "llama":
        return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", **common, "head_dim": a.d_head,
                "attention_bias": False, "mlp_bias": False, "pretraining_tp": 1}
    if a.family == "qwen2":
        # Qwen2 applies a sliding window only with use_sliding_window; prompts here are far
        # shorter than any window anyway. Its head_dim is hidden_size / num_attention_heads.
        return {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", **common, "use_sliding_window": False,
                "sliding_window": a.max_positions, "max_window_layers": a.n_layer}
    raise ValueError(f"unknown family {a.family!r}")
