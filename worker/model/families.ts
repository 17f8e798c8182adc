/**
 * The supported families, one table entry each: the config.json keys and defaults of its
 * transformers configuration class, the structure its modeling file builds, and its tensor
 * names. A new family (phi, gemma, olmo) is one more entry here, plus a graph piece only if it
 * computes something no family here does.
 *
 * Read from transformers' configuration_*.py and modeling_*.py:
 * - gpt2: pre-LN, learned positions, GELU MLP, Conv1D weights [in, out], tied unembedding.
 * - llama, mistral, qwen2, qwen3: RMSNorm, rotate-half rotary, SwiGLU, grouped-query attention,
 *   nn.Linear weights [out, in]. Llama: optional attention_bias (q, k, v and o_proj) and mlp_bias.
 *   Mistral: no bias anywhere. Qwen2: q/k/v biases always, none on o_proj. Qwen3: RMSNorm on
 *   each head's q and k before rotary, attention_bias as Llama's.
 * - gpt_neox: LayerNorms with bias, fused query_key_value (per head: q, k, v rows), partial
 *   rotate-half rotary (rotary_pct), GELU MLP with biases, untied embed_out, and
 *   use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)).
 * - gptj: one ln_1 feeding attention and MLP in parallel, interleaved rotary on rotary_dim dims
 *   (rotate_every_two, base 10000 fixed), no bias on q/k/v/out_proj, fc_in/fc_out with bias,
 *   lm_head with bias.
 */
import type { Activation, Architecture, ConfigFields, ModelConfig, NormKind, Rotary } from "./model-config.ts";

/** The config.json keys that hold the sizes every family has. */
interface ConfigKeys {
  layers: string;
  heads: string;
  hidden: string;
  mlp: string;
  positions: string;
  eps: string;
  kvHeads?: string;
  headDim?: string;
}

/** How a family's rotary reads config.json (see rope-config.ts). */
export interface RotarySpec {
  layout: Rotary["layout"];
  /** config.json key holding the base outside rope_parameters, or null where the modeling file fixes it (GPT-J) */
  thetaKey: string | null;
  /** the rotated share of each head: partial_rotary_factor's legacy key and default, or a key holding the dims (GPT-J rotary_dim) */
  partial: { key: string; fallback: number } | { dimsKey: string; fallback: number };
  /** whether rope_scaling / rope_parameters may scale the frequencies */
  scaling: boolean;
}

interface Structure {
  norm: NormKind;
  activation: Activation;
  bias: ModelConfig["bias"];
  parallel: ModelConfig["parallel"];
  qkNorm: boolean;
  rotary: RotarySpec | null;
  slidingWindow: number | null;
}

/** Tensor names, relative to the base model's prefix unless noted; `{l}` is the layer index. */
export interface TensorNames {
  /** Tried in order: the prefix a *ForCausalLM export writes, then none (a base model's export). */
  prefixes: readonly string[];
  /** "in-out": x W (GPT-2's Conv1D); "out-in": x W^T (nn.Linear) */
  layout: "in-out" | "out-in";
  embed: string;
  positions?: string;
  layer: string;
  attnNorm: string;
  /** absent: the MLP reads attnNorm's output (GPT-J) */
  mlpNorm?: string;
  attn: { fused: string; order: "blocks" | "per-head" } | { q: string; k: string; v: string };
  out: string;
  qNorm?: string;
  kNorm?: string;
  /** the MLP's input projection (fc, or SwiGLU's up) */
  mlpIn: string;
  mlpGate?: string;
  mlpOut: string;
  finalNorm: string;
  /** outside the prefix, as *ForCausalLM saves it */
  unembed: string;
  /** buffers inside a layer that older exports saved (causal masks, inv_freq): not weights */
  buffers: RegExp;
}

export interface Family {
  keys: ConfigKeys;
  defaults: {
    /** dMlp from d_model when the key is absent or null */
    mlp?: (dModel: number) => number;
    eps: number;
    tied: boolean;
    kvHeads?: number;
    headDim?: number;
    ropeTheta?: number;
  };
  structure(f: ConfigFields): Structure;
  tensors: TensorNames;
}

/** "gelu_pytorch_tanh" and "gelu_fast" compute GELU's tanh form as "gelu_new" does. */
const GELU: Readonly<Record<string, Activation>> = {
  gelu_new: "gelu_new",
  gelu_pytorch_tanh: "gelu_new",
  gelu_fast: "gelu_new",
  gelu: "gelu",
};
/** transformers' "swish" is SiLU too. */
const SILU: Readonly<Record<string, Activation>> = { silu: "silu", swish: "silu" };

const GPT2_KEYS: ConfigKeys = {
  layers: "n_layer",
  heads: "n_head",
  hidden: "n_embd",
  mlp: "n_inner",
  positions: "n_positions",
  eps: "layer_norm_epsilon",
};
const LLAMA_KEYS: ConfigKeys = {
  layers: "num_hidden_layers",
  heads: "num_attention_heads",
  hidden: "hidden_size",
  mlp: "intermediate_size",
  positions: "max_position_embeddings",
  eps: "rms_norm_eps",
  kvHeads: "num_key_value_heads",
  headDim: "head_dim",
};
const ROTATE_HALF: RotarySpec = {
  layout: "rotate-half",
  thetaKey: "rope_theta",
  partial: { key: "partial_rotary_factor", fallback: 1 },
  scaling: true,
};

const LLAMA_TENSORS: TensorNames = {
  prefixes: ["model.", ""],
  layout: "out-in",
  embed: "embed_tokens.weight",
  layer: "layers.{l}",
  attnNorm: "input_layernorm",
  mlpNorm: "post_attention_layernorm",
  attn: { q: "self_attn.q_proj", k: "self_attn.k_proj", v: "self_attn.v_proj" },
  out: "self_attn.o_proj",
  qNorm: "self_attn.q_norm",
  kNorm: "self_attn.k_norm",
  mlpIn: "mlp.up_proj",
  mlpGate: "mlp.gate_proj",
  mlpOut: "mlp.down_proj",
  finalNorm: "norm",
  unembed: "lm_head",
  buffers: /^self_attn\.rotary_emb\.inv_freq$/,
};

/** Llama's layout with the family's own bias rule, q/k norm and sliding window. */
function llamaLike(o: {
  kvHeads?: number;
  headDim?: number;
  bias: (f: ConfigFields) => ModelConfig["bias"];
  qkNorm?: boolean;
  window: (f: ConfigFields) => number | null;
}): Family {
  return {
    keys: LLAMA_KEYS,
    defaults: {
      eps: 1e-6,
      tied: false,
      ...(o.kvHeads ? { kvHeads: o.kvHeads } : {}),
      ...(o.headDim ? { headDim: o.headDim } : {}),
    },
    structure: (f) => ({
      norm: "rmsnorm",
      activation: f.choice("hidden_act", SILU, "silu"),
      bias: o.bias(f),
      parallel: "none",
      qkNorm: o.qkNorm ?? false,
      rotary: ROTATE_HALF,
      slidingWindow: o.window(f),
    }),
    tensors: LLAMA_TENSORS,
  };
}

const noBias = { qkv: false, out: false, mlp: false, unembed: false };
/** Qwen attends within sliding_window only where use_sliding_window is on. */
const qwenWindow = (f: ConfigFields) =>
  f.bool("use_sliding_window", false) ? f.intOrNull("sliding_window", 4096) : null;

export const FAMILIES: Readonly<Record<Architecture, Family>> = {
  gpt2: {
    keys: GPT2_KEYS,
    defaults: { mlp: (d) => 4 * d, eps: 1e-5, tied: true },
    structure: (f) => ({
      norm: "layernorm",
      activation: f.choice("activation_function", GELU, "gelu_new"),
      bias: { qkv: true, out: true, mlp: true, unembed: false },
      parallel: "none",
      qkNorm: false,
      rotary: null,
      slidingWindow: null,
    }),
    tensors: {
      prefixes: ["transformer.", ""],
      layout: "in-out",
      embed: "wte.weight",
      positions: "wpe.weight",
      layer: "h.{l}",
      attnNorm: "ln_1",
      mlpNorm: "ln_2",
      attn: { fused: "attn.c_attn", order: "blocks" },
      out: "attn.c_proj",
      mlpIn: "mlp.c_fc",
      mlpOut: "mlp.c_proj",
      finalNorm: "ln_f",
      unembed: "lm_head",
      buffers: /^attn\.(bias|masked_bias)$/,
    },
  },
  llama: llamaLike({
    bias: (f) => {
      const attention = f.bool("attention_bias", false);
      return { qkv: attention, out: attention, mlp: f.bool("mlp_bias", false), unembed: false };
    },
    window: () => null,
  }),
  // Mistral's sliding window (4096 by default) is far longer than an arithmetic prompt; the
  // runner refuses a prompt that would reach past it rather than attend beyond it.
  mistral: llamaLike({ kvHeads: 8, bias: () => noBias, window: (f) => f.intOrNull("sliding_window", 4096) }),
  qwen2: llamaLike({
    kvHeads: 32,
    bias: () => ({ qkv: true, out: false, mlp: false, unembed: false }),
    window: qwenWindow,
  }),
  qwen3: llamaLike({
    kvHeads: 32,
    headDim: 128,
    qkNorm: true,
    bias: (f) => {
      const attention = f.bool("attention_bias", false);
      return { qkv: attention, out: attention, mlp: false, unembed: false };
    },
    window: qwenWindow,
  }),
  gpt_neox: {
    keys: {
      layers: "num_hidden_layers",
      heads: "num_attention_heads",
      hidden: "hidden_size",
      mlp: "intermediate_size",
      positions: "max_position_embeddings",
      eps: "layer_norm_eps",
    },
    defaults: { eps: 1e-5, tied: false },
    structure: (f) => {
      const attention = f.bool("attention_bias", true);
      return {
        norm: "layernorm",
        activation: f.choice("hidden_act", GELU, "gelu"),
        bias: { qkv: attention, out: attention, mlp: true, unembed: false },
        parallel: f.bool("use_parallel_residual", true) ? "two-norms" : "none",
        qkNorm: false,
        slidingWindow: null,
        rotary: {
          layout: "rotate-half",
          thetaKey: "rotary_emb_base",
          partial: { key: "rotary_pct", fallback: 0.25 },
          scaling: true,
        },
      };
    },
    tensors: {
      prefixes: ["gpt_neox.", ""],
      layout: "out-in",
      embed: "embed_in.weight",
      layer: "layers.{l}",
      attnNorm: "input_layernorm",
      mlpNorm: "post_attention_layernorm",
      // transformers (since its attention refactor) views the fused output as [.., heads, 3 * head_dim]
      // and splits the last axis in three, so each head's q, k and v rows are adjacent. Earlier
      // versions sliced the same per-head layout, so checkpoints of either read the same.
      attn: { fused: "attention.query_key_value", order: "per-head" },
      out: "attention.dense",
      mlpIn: "mlp.dense_h_to_4h",
      mlpOut: "mlp.dense_4h_to_h",
      finalNorm: "final_layer_norm",
      unembed: "embed_out",
      buffers: /^attention\.(bias|masked_bias|rotary_emb\.inv_freq)$/,
    },
  },
  gptj: {
    keys: GPT2_KEYS,
    defaults: { mlp: (d) => 4 * d, eps: 1e-5, tied: false },
    structure: (f) => ({
      norm: "layernorm",
      activation: f.choice("activation_function", GELU, "gelu_new"),
      bias: { qkv: false, out: false, mlp: true, unembed: true },
      parallel: "shared-norm",
      qkNorm: false,
      slidingWindow: null,
      rotary: {
        layout: "interleaved",
        thetaKey: null,
        partial: { dimsKey: "rotary_dim", fallback: 64 },
        scaling: false,
      },
    }),
    tensors: {
      prefixes: ["transformer.", ""],
      layout: "out-in",
      embed: "wte.weight",
      layer: "h.{l}",
      attnNorm: "ln_1",
      attn: { q: "attn.q_proj", k: "attn.k_proj", v: "attn.v_proj" },
      out: "attn.out_proj",
      mlpIn: "mlp.fc_in",
      mlpOut: "mlp.fc_out",
      finalNorm: "ln_f",
      unembed: "lm_head",
      buffers: /^attn\.(bias|masked_bias)$/,
    },
  },
};
