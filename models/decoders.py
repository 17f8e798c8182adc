"""The golden oracle's models beyond GPT-2: Llama, Mistral, Qwen2, Qwen3, GPT-NeoX and GPT-J.

Written from Hugging Face transformers' modeling code (modeling_llama.py, modeling_mistral.py,
modeling_qwen2.py, modeling_qwen3.py, modeling_gpt_neox.py, modeling_gptj.py and
modeling_rope_utils.py), never from the TypeScript engine, in float64 and deliberately plain:
one attention head at a time, rotary by transformers' own rotate_half / rotate_every_two.
decoders_check.py computes the same logits a second way, without loops, as a self-check.

What each family does, as transformers does it:
- llama, mistral, qwen2, qwen3: x + attn(rms(x)), then + mlp(rms(.)). RMSNorm w * x / sqrt(mean(x^2)
  + eps). Rotary on the whole head, rotate-half layout: dims i and i + d/2 turn by pos * inv_freq_i,
  inv_freq_i = theta^(-2i/d); rope_scaling `linear` divides every inv_freq by factor, `llama3`
  divides the low frequencies only and blends the middle band. Key/value head j serves query
  heads j*G .. j*G+G-1, G = heads / kv heads (repeat_kv). SwiGLU: down(silu(gate(x)) * up(x)).
  Biases: llama's attention_bias puts them on q, k, v and o, mlp_bias on gate, up and down;
  qwen2 has them on q, k and v only; qwen3's attention_bias on q, k, v and o; mistral none.
  qwen3 RMS-normalises each head's q and k (own weights, width head_dim) before the rotary.
  Mistral's and Qwen's sliding window is far longer than these prompts, so it never masks.
- gpt_neox (Pythia): LayerNorm with bias. query_key_value is fused per head: the projection is
  viewed as [.., heads, 3 * head_dim] and split into q, k, v along the last axis (the current
  transformers; the older one indexed the same layout). Rotary, rotate-half, on the first
  int(head_dim * rotary_pct) dims of each head only, base rotary_emb_base. use_parallel_residual:
  x + attn(ln1(x)) + mlp(ln2(x)); otherwise two residual steps. MLP gelu (erf). Untied embed_out.
- gptj: one LayerNorm ln_1 feeds attention and MLP in parallel: x + attn(ln1(x)) + mlp(ln1(x)).
  q, k, v, out_proj without bias. Rotary on the first rotary_dim dims of each head, interleaved
  (rotate_every_two: dims 2i and 2i+1 turn together), base 10000. MLP fc_in, gelu_new, fc_out,
  with biases. lm_head has a bias.

Head ablation zeroes the head's slice of the attention output before the output projection, at
every position (docs/method.md §2); under grouped-query attention the shared keys and values
stay. The residual after attention is r = x + A in every family, parallel ones included.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch

import arith

DTYPE = torch.float64
LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3")
FAMILIES = (*LLAMA_LIKE, "gpt_neox", "gptj")


def to_float64(dtype: str, shape: list[int], raw: bytes) -> torch.Tensor:
    if dtype == "F32":
        values = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F16":
        values = np.frombuffer(raw, dtype="<f2")
    else:  # BF16 is the top half of a float32
        values = (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).view("<f4")
    return torch.from_numpy(values.astype(np.float64)).reshape(shape)


class Decoder:
    """A checkpoint of one family, in float64."""

    def __init__(self, model_dir: Path):
        self.dir = model_dir
        c = self.config = json.loads((model_dir / "config.json").read_text())
        self.family = c["model_type"]
        if self.family not in FAMILIES:
            raise ValueError(f"{model_dir}: model_type {self.family!r} is not one of {FAMILIES}")
        self.w = {name: to_float64(*value) for name, value in arith.read_checkpoint(model_dir).items()}
        self.files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in arith.weight_files(model_dir)}
        self.vocab = c["vocab_size"]
        if self.family == "gptj":
            self.L, self.H, self.D = c["n_layer"], c["n_head"], c["n_embd"]
            self.F = c.get("n_inner") or 4 * self.D
            self.eps = c["layer_norm_epsilon"]
        else:
            self.L, self.H, self.D = c["num_hidden_layers"], c["num_attention_heads"], c["hidden_size"]
            self.F = c["intermediate_size"]
            self.eps = c["rms_norm_eps"] if self.family in LLAMA_LIKE else c["layer_norm_eps"]
        self.KV = (c.get("num_key_value_heads") or self.H) if self.family in LLAMA_LIKE else self.H
        self.dh = (c.get("head_dim") or self.D // self.H) if self.family in LLAMA_LIKE else self.D // self.H
        if self.family == "gpt_neox":
            self.rot, self.theta = int(self.dh * c.get("rotary_pct", 0.25)), c.get("rotary_emb_base", 10000)
        elif self.family == "gptj":
            self.rot, self.theta = c["rotary_dim"], 10000.0
        else:
            self.rot, self.theta = self.dh, c.get("rope_theta", 10000.0)
        self.rope_scaling = c.get("rope_scaling") if self.family in LLAMA_LIKE else None
        # Layout choices as attributes, so decoders_check.mutants can flip them one at a time.
        self.interleaved = self.family == "gptj"  # rotary pairs (2i, 2i+1); else (i, i + rot/2)
        self.fused_per_head = self.family == "gpt_neox"  # query_key_value rows: q|k|v of head 0, of head 1, ...
        self.qk_norm = self.family == "qwen3"
        self.layer_norm = self.family in ("gpt_neox", "gptj")
        self.parallel = self.family == "gptj" or (self.family == "gpt_neox" and c.get("use_parallel_residual", True))
        prefix = {"gpt_neox": "gpt_neox.", "gptj": "transformer."}.get(self.family, "model.")
        self.embed = self.w[prefix + {"gpt_neox": "embed_in.weight", "gptj": "wte.weight"}.get(self.family, "embed_tokens.weight")]
        if self.family == "gpt_neox":
            self.unembed = self.w["embed_out.weight"]
        elif "lm_head.weight" in self.w:
            self.unembed = self.w["lm_head.weight"]
        elif c.get("tie_word_embeddings", False):
            self.unembed = self.embed
        else:
            raise ValueError(f"{model_dir}: no lm_head.weight and tie_word_embeddings is not set")
        self.unembed_bias = self.w.get("lm_head.bias")  # GPT-J only; real logits include it, projections drop it
        final = {"gpt_neox": "gpt_neox.final_layer_norm", "gptj": "transformer.ln_f"}.get(self.family, "model.norm")
        self.final_w, self.final_b = self.w[final + ".weight"], self.w.get(final + ".bias")
        self.check_shapes()

    def check_shapes(self) -> None:
        """Every matrix has the shape the config implies (a wrong head_dim or kv count fails here)."""
        D, F, V, qw, kvw = self.D, self.F, self.vocab, self.H * self.dh, self.KV * self.dh
        for l in range(self.L):
            if self.family in LLAMA_LIKE:
                p = f"model.layers.{l}."
                want = {p + "self_attn.q_proj.weight": [qw, D], p + "self_attn.k_proj.weight": [kvw, D],
                        p + "self_attn.v_proj.weight": [kvw, D], p + "self_attn.o_proj.weight": [D, qw],
                        p + "mlp.gate_proj.weight": [F, D], p + "mlp.down_proj.weight": [D, F]}
            elif self.family == "gpt_neox":
                p = f"gpt_neox.layers.{l}."
                want = {p + "attention.query_key_value.weight": [3 * D, D], p + "mlp.dense_4h_to_h.weight": [D, F]}
            else:
                p = f"transformer.h.{l}."
                want = {p + "attn.q_proj.weight": [D, D], p + "mlp.fc_out.weight": [D, F]}
            for name, shape in want.items():
                if list(self.w[name].shape) != shape:
                    raise ValueError(f"{self.dir}: {name} has shape {list(self.w[name].shape)}, the config implies {shape}")
        if list(self.embed.shape) != [V, D] or list(self.unembed.shape) != [V, D]:
            raise ValueError(f"{self.dir}: embedding or unembedding is not [{V}, {D}]")

    # -- pieces -------------------------------------------------------------------------------

    def linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """nn.Linear: x @ W.T + b, the bias when the checkpoint has one."""
        y = x @ self.w[name + ".weight"].T
        bias = self.w.get(name + ".bias")
        return y if bias is None else y + bias

    def norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        if self.layer_norm:
            mean = x.mean(-1, keepdim=True)
            var = ((x - mean) ** 2).mean(-1, keepdim=True)
            return (x - mean) / torch.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]
        return self.w[name + ".weight"] * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps))

    def inv_freq(self) -> list[float]:
        """transformers' inverse frequencies, one per rotated pair, rope_scaling applied."""
        freqs = [1.0 / self.theta ** (2 * i / self.rot) for i in range(self.rot // 2)]
        s = self.rope_scaling
        if s is None:
            return freqs
        kind = s.get("rope_type", s.get("type"))
        if kind == "linear":
            return [f / s["factor"] for f in freqs]
        if kind != "llama3":
            raise ValueError(f"{self.dir}: rope_scaling type {kind!r} is not linear or llama3")
        old = s["original_max_position_embeddings"]
        low, high, factor = s["low_freq_factor"], s["high_freq_factor"], s["factor"]
        out = []
        for f in freqs:
            wavelen = 2 * math.pi / f
            if wavelen < old / high:  # high frequency: kept
                out.append(f)
            elif wavelen > old / low:  # low frequency: slowed by factor
                out.append(f / factor)
            else:  # in between: blended
                smooth = (old / wavelen - low) / (high - low)
                out.append((1 - smooth) * f / factor + smooth * f)
        return out

    def rotary(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, dh] of one head, positions 0..T-1; only the first self.rot dims turn."""
        T = x.shape[1]
        angles = torch.arange(T, dtype=DTYPE)[:, None] * torch.tensor(self.inv_freq(), dtype=DTYPE)[None, :]  # [T, rot/2]
        turned, kept = x[..., : self.rot], x[..., self.rot :]
        if self.interleaved:  # rotate_every_two, each angle repeated for its pair of dims
            cos, sin = angles.cos().repeat_interleave(2, -1), angles.sin().repeat_interleave(2, -1)
            pairs_swapped = torch.stack((-turned[..., 1::2], turned[..., 0::2]), dim=-1).flatten(-2)
            turned = turned * cos + pairs_swapped * sin
        else:  # rotate_half, the angles laid out twice: cat(freqs, freqs)
            cos, sin = torch.cat((angles, angles), -1).cos(), torch.cat((angles, angles), -1).sin()
            half = self.rot // 2
            halves_swapped = torch.cat((-turned[..., half:], turned[..., :half]), -1)
            turned = turned * cos + halves_swapped * sin
        return torch.cat((turned, kept), -1)

    def heads_qkv(self, l: int, h: torch.Tensor) -> tuple[list, list, list]:
        """Per-head q [H] and k, v [KV], each [B, T, dh], before the rotary."""
        dh = self.dh
        p = f"transformer.h.{l}.attn." if self.family == "gptj" else f"model.layers.{l}.self_attn."
        if self.family == "gpt_neox":
            qkv = self.linear(h, f"gpt_neox.layers.{l}.attention.query_key_value")  # [B, T, 3D]
            if self.fused_per_head:
                parts = [qkv[..., hh * 3 * dh : (hh + 1) * 3 * dh] for hh in range(self.H)]
                return [t[..., :dh] for t in parts], [t[..., dh : 2 * dh] for t in parts], [t[..., 2 * dh :] for t in parts]
            q, k, v = qkv[..., : self.D], qkv[..., self.D : 2 * self.D], qkv[..., 2 * self.D :]  # a misreading, for mutants
        else:
            q, k, v = (self.linear(h, p + name) for name in ("q_proj", "k_proj", "v_proj"))
        qs = [q[..., i * dh : (i + 1) * dh] for i in range(self.H)]
        ks = [k[..., i * dh : (i + 1) * dh] for i in range(self.KV)]
        vs = [v[..., i * dh : (i + 1) * dh] for i in range(self.KV)]
        if self.qk_norm:
            qs = [self.norm(t, p + "q_norm") for t in qs]
            ks = [self.norm(t, p + "k_norm") for t in ks]
        return qs, ks, vs

    def kv_head(self, hh: int, group: int) -> int:
        """The key/value head query head hh reads: `group` consecutive query heads share one (repeat_kv)."""
        return hh // group

    def out_proj(self, l: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """W_O [D, H*dh] (nn.Linear out x in) and its bias."""
        name = {"gpt_neox": f"gpt_neox.layers.{l}.attention.dense", "gptj": f"transformer.h.{l}.attn.out_proj"}.get(
            self.family, f"model.layers.{l}.self_attn.o_proj")
        return self.w[name + ".weight"], self.w.get(name + ".bias")

    def mlp_coefficients(self, l: int, h: torch.Tensor) -> torch.Tensor:
        """m [B, T, F]: the activations that multiply the rows of the output projection."""
        if self.family in LLAMA_LIKE:
            p = f"model.layers.{l}.mlp."
            gate = self.linear(h, p + "gate_proj")
            return gate * torch.sigmoid(gate) * self.linear(h, p + "up_proj")
        if self.family == "gpt_neox":
            a = self.linear(h, f"gpt_neox.layers.{l}.mlp.dense_h_to_4h")
            return 0.5 * a * (1.0 + torch.erf(a / math.sqrt(2.0)))
        a = self.linear(h, f"transformer.h.{l}.mlp.fc_in")
        return 0.5 * a * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (a + 0.044715 * a**3)))

    def mlp_name(self, l: int) -> str:
        return {"gpt_neox": f"gpt_neox.layers.{l}.mlp.dense_4h_to_h", "gptj": f"transformer.h.{l}.mlp.fc_out"}.get(
            self.family, f"model.layers.{l}.mlp.down_proj")

    def w_out(self, l: int) -> torch.Tensor:
        """[F, D]: row k is what neuron k writes per unit of coefficient."""
        return self.w[self.mlp_name(l) + ".weight"].T

    def norm_names(self, l: int) -> tuple[str, str]:
        """The norm before attention and the one before the MLP (GPT-J: the same ln_1)."""
        if self.family == "gptj":
            return f"transformer.h.{l}.ln_1", f"transformer.h.{l}.ln_1"
        p = f"gpt_neox.layers.{l}." if self.family == "gpt_neox" else f"model.layers.{l}."
        return p + "input_layernorm", p + "post_attention_layernorm"

    # -- docs/method.md's views of the model ----------------------------------------------------

    def final_scale(self, x: torch.Tensor) -> torch.Tensor:
        """s: LayerNorm std with eps, RMSNorm rms with eps; x [..., D]."""
        if self.layer_norm:
            return torch.sqrt(((x - x.mean(-1, keepdim=True)) ** 2).mean(-1) + self.eps)
        return torch.sqrt((x * x).mean(-1) + self.eps)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The real output: final norm (with its bias), unembedding (with GPT-J's bias)."""
        if self.layer_norm:
            h = (x - x.mean(-1, keepdim=True)) / self.final_scale(x)[..., None] * self.final_w + self.final_b
        else:
            h = self.final_w * (x / self.final_scale(x)[..., None])
        out = h @ self.unembed.T
        return out if self.unembed_bias is None else out + self.unembed_bias

    def project(self, u: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """logits(u) = W_U (g * c(u) / s): frozen s, final-norm bias and unembedding bias dropped."""
        centred = u - u.mean(-1, keepdim=True) if self.layer_norm else u
        return (self.final_w * centred / scale) @ self.unembed.T

    def forward(self, ids: torch.Tensor, ablate: tuple[int, int] | None = None,
                neuron_keep: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """ids [B, T] unpadded; values at the last position, as reference.forward returns them."""
        B, T = ids.shape
        x = self.embed[ids]  # [B, T, D]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        out = {k: [] for k in ("resid_pre", "resid_mid", "attn_out", "mlp_post", "mlp_out", "head_out")}
        group = self.H // self.KV
        for l in range(self.L):
            out["resid_pre"].append(x[:, -1])
            norm_attn, norm_mlp = self.norm_names(l)
            qs, ks, vs = self.heads_qkv(l, self.norm(x, norm_attn))
            qs, ks = [self.rotary(t) for t in qs], [self.rotary(t) for t in ks]
            w_o, b_o = self.out_proj(l)
            contributions = []
            for hh in range(self.H):
                kv = self.kv_head(hh, group)
                scores = (qs[hh] @ ks[kv].transpose(-1, -2)) / math.sqrt(self.dh)
                z = scores.masked_fill(~causal, float("-inf")).softmax(-1) @ vs[kv]  # [B, T, dh]
                if ablate == (l, hh):
                    z = torch.zeros_like(z)
                contributions.append(z @ w_o[:, hh * self.dh : (hh + 1) * self.dh].T)  # [B, T, D]
            out["head_out"].append(torch.stack([c[:, -1] for c in contributions], dim=1))
            attn = sum(contributions)
            if b_o is not None:
                attn = attn + b_o
            out["attn_out"].append(attn[:, -1])
            mid = x + attn
            out["resid_mid"].append(mid[:, -1])
            # parallel blocks read the MLP's input from x, so an ablated head never reaches this layer's MLP
            m = self.mlp_coefficients(l, self.norm(x if self.parallel else mid, norm_mlp))
            if neuron_keep is not None:
                m = m * neuron_keep[:, l][:, None, :]
            out["mlp_post"].append(m[:, -1])
            mlp = self.linear(m, self.mlp_name(l))
            out["mlp_out"].append(mlp[:, -1])
            x = mid + mlp
        result = {k: torch.stack(v, dim=1) for k, v in out.items()}
        final = x[:, -1]
        result["final_scale"] = self.final_scale(final)
        result["logits"] = self.logits(final)
        return result
