"""A second forward for decoders.py's families, written another way, used as a self-check.

decoders.Decoder.forward follows transformers' code closely: one head at a time, the rotary by
rotate_half / rotate_every_two with per-frequency branches for rope_scaling, key/value head
h // G found by index, GPT-NeoX's fused projection sliced head by head. This one has no loops:
- the rotary turns each pair of dims as one complex number, z * e^(i * angle), the pairs taken as
  (i, i + rot/2) for the rotate-half layout and (2i, 2i+1) for GPT-J's interleaved one, with
  rope_scaling's frequencies from one clamped blend over all of them at once;
- grouped-query attention copies each key/value head to its G query heads with repeat_interleave;
- GPT-NeoX's fused projection is reshaped to [.., heads, 3, head_dim] and unbound;
- all heads attend in one einsum, and an ablated head is a 0 in a [H] mask.
A mistake in one layout (rotary pairs, the kv head a query head reads, the fused q|k|v order)
cannot give the same logits both ways. reference.py compares them on every cell, and
`reference.py --mutants` shows each misreading in mutants() being caught.
"""

from __future__ import annotations

import copy
import math

import torch

from decoders import DTYPE, Decoder


def inv_freq(model: Decoder) -> torch.Tensor:
    freqs = model.theta ** (-torch.arange(0, model.rot, 2, dtype=DTYPE) / model.rot)
    s = model.rope_scaling
    if s is None:
        return freqs
    if s.get("rope_type", s.get("type")) == "linear":
        return freqs / s["factor"]
    old = s["original_max_position_embeddings"]
    low, high, factor = s["low_freq_factor"], s["high_freq_factor"], s["factor"]
    wavelen = 2 * math.pi / freqs
    smooth = ((old / wavelen - low) / (high - low)).clamp(0.0, 1.0)  # 0: slowed by factor, 1: kept
    return freqs / factor * (1 - smooth) + freqs * smooth


def rotate(model: Decoder, x: torch.Tensor) -> torch.Tensor:
    """x [B, T, heads, dh]; the first model.rot dims of each head turn."""
    B, T, N, _ = x.shape
    turn = torch.polar(torch.ones(T, model.rot // 2, dtype=DTYPE), torch.arange(T, dtype=DTYPE)[:, None] * inv_freq(model))
    turned = x[..., : model.rot]
    if model.family == "gptj":
        z = torch.view_as_complex(turned.reshape(B, T, N, model.rot // 2, 2).contiguous())
        turned = torch.view_as_real(z * turn[None, :, None, :]).reshape(B, T, N, model.rot)
    else:
        half = model.rot // 2
        z = torch.complex(turned[..., :half], turned[..., half:]) * turn[None, :, None, :]
        turned = torch.cat((z.real, z.imag), -1)
    return torch.cat((turned, x[..., model.rot :]), -1)


def logits(model: Decoder, ids: torch.Tensor, ablate: tuple[int, int] | None = None) -> torch.Tensor:
    """[B, V] at the last position, computed without loops over heads or frequencies."""
    B, T = ids.shape
    H, KV, dh = model.H, model.KV, model.dh
    x = model.embed[ids]
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    for l in range(model.L):
        norm_attn, norm_mlp = model.norm_names(l)
        h = model.norm(x, norm_attn)
        if model.family == "gpt_neox":
            q, k, v = model.linear(h, f"gpt_neox.layers.{l}.attention.query_key_value").reshape(B, T, H, 3, dh).unbind(3)
        else:
            p = f"transformer.h.{l}.attn." if model.family == "gptj" else f"model.layers.{l}.self_attn."
            q = model.linear(h, p + "q_proj").reshape(B, T, H, dh)
            k = model.linear(h, p + "k_proj").reshape(B, T, KV, dh)
            v = model.linear(h, p + "v_proj").reshape(B, T, KV, dh)
            if model.family == "qwen3":
                q, k = model.norm(q, p + "q_norm"), model.norm(k, p + "k_norm")
            k, v = k.repeat_interleave(H // KV, dim=2), v.repeat_interleave(H // KV, dim=2)
        q, k = rotate(model, q), rotate(model, k)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(dh)
        z = torch.einsum("bhqk,bkhd->bqhd", scores.masked_fill(future, float("-inf")).softmax(-1), v)
        mask = torch.ones(H, dtype=DTYPE)
        if ablate is not None and ablate[0] == l:
            mask[ablate[1]] = 0.0
        w_o, b_o = model.out_proj(l)
        attn = (z * mask[:, None]).reshape(B, T, H * dh) @ w_o.T + (0.0 if b_o is None else b_o)
        mlp_in = model.norm(x if model.parallel else x + attn, norm_mlp)
        mlp = model.linear(model.mlp_coefficients(l, mlp_in), model.mlp_name(l))
        x = x + attn + mlp
    return model.logits(x[:, -1])


def disagreement(model: Decoder, ids: torch.Tensor, got: torch.Tensor, ablate: tuple[int, int] | None = None) -> float:
    """max |got - this forward's logits|, relative to the logits' size (at least 1)."""
    want = logits(model, ids, ablate)
    return (got - want).abs().max().item() / max(1.0, want.abs().max().item())


def check(model: Decoder, ids: torch.Tensor, got: torch.Tensor, ablate: tuple[int, int] | None = None) -> None:
    """Raises unless `got` (decoders' logits for ids) matches this forward's to 1e-9 relative."""
    diff = disagreement(model, ids, got, ablate)
    if diff > 1e-9:
        raise AssertionError(f"{model.dir}: the two forwards disagree by {diff:.3g} (ablate={ablate}); "
                             "a rotary, GQA or fused-qkv layout differs between decoders.py and decoders_check.py")


def mutants(model: Decoder) -> dict[str, Decoder]:
    """Plausible misreadings of transformers' layouts, each a copy of `model` whose decoders.py
    forward makes it; check() must catch every one."""
    out: dict[str, Decoder] = {}

    def mutant(name: str, **changes) -> None:
        m = copy.copy(model)
        for key, value in changes.items():
            setattr(m, key, value)
        out[name] = m

    if model.rot >= 4:  # one pair of dims is the same pair in both layouts
        mutant("rotary pairs of the other layout", interleaved=not model.interleaved)
    if model.rot < model.dh:
        mutant("rotary on every dim of the head", rot=model.dh)
    if model.rope_scaling is not None:
        mutant("rope_scaling ignored", rope_scaling=None)
    if 1 < model.KV < model.H:
        mutant("query head h reads kv head h % KV", kv_head=lambda hh, group: hh % model.KV)
    if model.family == "gpt_neox":
        mutant("query_key_value read as q, k, v blocks", fused_per_head=False)
    if model.qk_norm:
        mutant("q/k norm skipped", qk_norm=False)
    return out


def run_mutants(model: Decoder, ids: torch.Tensor) -> list[dict]:
    """The unmutated forward passes check(); for each mutant, whether check() would refuse it."""
    check(model, ids, model.forward(ids)["logits"])
    return [{"model": str(model.dir), "family": model.family, "mutation": name,
             "caught": disagreement(model, ids, m.forward(ids)["logits"]) > 1e-9} for name, m in mutants(model).items()]
