/**
 * Each family's config.json and tensors, named and shaped as Hugging Face transformers saves
 * them (modeling_llama.py, modeling_mistral.py, modeling_qwen2.py, modeling_qwen3.py,
 * modeling_gpt_neox.py, modeling_gptj.py, modeling_gpt2.py and their configuration classes).
 *
 * Shapes: nn.Linear weights are [out, in]; GPT-2's Conv1D weights are [in, out]. GPT-NeoX's
 * fused query_key_value holds, per head, that head's q, k and v rows one after the other
 * (transformers views the projection as [.., heads, 3 * head_dim] and splits the last axis in
 * three). Tied embeddings are left out of the file, as save_pretrained leaves them out.
 *
 * Scales: embeddings and unembeddings have std 2.5 / sqrt(d_model), so the logits of a
 * normalised residual have std about 2.5 (peaked, not saturated); linear weights 1 / sqrt(fan_in)
 * (about 0.02 at d_model 2048, transformers' initializer_range), so every layer's output is of
 * the residual's order and ablating a head or a neuron moves the logits; norm weights 1 ± 0.2
 * and biases ± 0.2, so a reader that skips one is caught.
 */
import type { Init } from "./numbers.ts";
import type { ResolvedCheckpoint } from "./options.ts";

export interface TensorPlan {
  name: string;
  shape: number[];
  init: Init;
}

export const TORCH_DTYPE = { F32: "float32", F16: "float16", BF16: "bfloat16" } as const;

const BIAS: Init = { mean: 0, std: 0.2 };
const GAIN: Init = { mean: 1, std: 0.2 };

/** The tensors of a checkpoint, in the model's own order (embedding, layers, final norm, head). */
export function tensorPlan(c: ResolvedCheckpoint, vocab: number): TensorPlan[] {
  const plan: TensorPlan[] = [];
  const embedding: Init = { mean: 0, std: 2.5 / Math.sqrt(c.hidden) };
  const add = (name: string, shape: number[], init: Init) => plan.push({ name, shape, init });
  /** nn.Linear(in, out): weight [out, in], bias [out] */
  const linear = (name: string, inFeatures: number, outFeatures: number, bias: boolean) => {
    add(`${name}.weight`, [outFeatures, inFeatures], { mean: 0, std: 1 / Math.sqrt(inFeatures) });
    if (bias) add(`${name}.bias`, [outFeatures], BIAS);
  };
  const norm = (name: string, width: number, bias: boolean) => {
    add(`${name}.weight`, [width], GAIN);
    if (bias) add(`${name}.bias`, [width], BIAS);
  };
  const D = c.hidden,
    F = c.intermediate,
    qWidth = c.heads * c.headDim,
    kvWidth = c.kvHeads * c.headDim;

  switch (c.family) {
    case "llama":
    case "mistral":
    case "qwen2":
    case "qwen3": {
      // Mistral has no bias anywhere; Qwen2 has q/k/v biases always and none on o_proj.
      const qkvBias = c.family === "qwen2" || c.attentionBias;
      const oBias = c.family !== "qwen2" && c.attentionBias;
      add("model.embed_tokens.weight", [vocab, D], embedding);
      for (let l = 0; l < c.layers; l++) {
        const p = `model.layers.${l}`;
        norm(`${p}.input_layernorm`, D, false);
        linear(`${p}.self_attn.q_proj`, D, qWidth, qkvBias);
        linear(`${p}.self_attn.k_proj`, D, kvWidth, qkvBias);
        linear(`${p}.self_attn.v_proj`, D, kvWidth, qkvBias);
        linear(`${p}.self_attn.o_proj`, qWidth, D, oBias);
        if (c.family === "qwen3") {
          norm(`${p}.self_attn.q_norm`, c.headDim, false);
          norm(`${p}.self_attn.k_norm`, c.headDim, false);
        }
        norm(`${p}.post_attention_layernorm`, D, false);
        linear(`${p}.mlp.gate_proj`, D, F, c.mlpBias);
        linear(`${p}.mlp.up_proj`, D, F, c.mlpBias);
        linear(`${p}.mlp.down_proj`, F, D, c.mlpBias);
      }
      norm("model.norm", D, false);
      if (!c.tieWordEmbeddings) add("lm_head.weight", [vocab, D], embedding);
      return plan;
    }
    case "gpt_neox": {
      add("gpt_neox.embed_in.weight", [vocab, D], embedding);
      for (let l = 0; l < c.layers; l++) {
        const p = `gpt_neox.layers.${l}`;
        norm(`${p}.input_layernorm`, D, true);
        norm(`${p}.post_attention_layernorm`, D, true);
        linear(`${p}.attention.query_key_value`, D, 3 * D, c.attentionBias);
        linear(`${p}.attention.dense`, D, D, c.attentionBias);
        linear(`${p}.mlp.dense_h_to_4h`, D, F, true);
        linear(`${p}.mlp.dense_4h_to_h`, F, D, true);
      }
      norm("gpt_neox.final_layer_norm", D, true);
      add("embed_out.weight", [vocab, D], embedding);
      return plan;
    }
    case "gptj": {
      add("transformer.wte.weight", [vocab, D], embedding);
      for (let l = 0; l < c.layers; l++) {
        const p = `transformer.h.${l}`;
        norm(`${p}.ln_1`, D, true);
        for (const proj of ["q_proj", "k_proj", "v_proj"]) linear(`${p}.attn.${proj}`, D, D, false);
        linear(`${p}.attn.out_proj`, D, D, false);
        linear(`${p}.mlp.fc_in`, D, F, true);
        linear(`${p}.mlp.fc_out`, F, D, true);
      }
      norm("transformer.ln_f", D, true);
      add("lm_head.weight", [vocab, D], embedding);
      add("lm_head.bias", [vocab], { mean: 0, std: 0.5 });
      return plan;
    }
    case "gpt2": {
      /** Conv1D(out, in): weight [in, out] */
      const conv = (name: string, inFeatures: number, outFeatures: number) => {
        add(`${name}.weight`, [inFeatures, outFeatures], { mean: 0, std: 1 / Math.sqrt(inFeatures) });
        add(`${name}.bias`, [outFeatures], BIAS);
      };
      add("transformer.wte.weight", [vocab, D], embedding);
      add("transformer.wpe.weight", [c.maxPositions, D], embedding);
      for (let l = 0; l < c.layers; l++) {
        const p = `transformer.h.${l}`;
        norm(`${p}.ln_1`, D, true);
        conv(`${p}.attn.c_attn`, D, 3 * D);
        conv(`${p}.attn.c_proj`, D, D);
        norm(`${p}.ln_2`, D, true);
        conv(`${p}.mlp.c_fc`, D, F);
        conv(`${p}.mlp.c_proj`, F, D);
      }
      norm("transformer.ln_f", D, true);
      return plan;
    }
  }
}

/** Token ids config.json names; undefined leaves the key out. */
export interface SpecialIds {
  bos: number | undefined;
  eos: number | undefined;
}

/** config.json with the keys each family's configuration class reads, spelled as it spells them. */
export function familyConfig(c: ResolvedCheckpoint, vocab: number, ids: SpecialIds): Record<string, unknown> {
  const common = {
    vocab_size: vocab,
    bos_token_id: ids.bos ?? null,
    eos_token_id: ids.eos ?? null,
    torch_dtype: TORCH_DTYPE[c.dtype],
  };
  switch (c.family) {
    case "llama":
    case "mistral":
    case "qwen2":
    case "qwen3": {
      const arch = {
        llama: "LlamaForCausalLM",
        mistral: "MistralForCausalLM",
        qwen2: "Qwen2ForCausalLM",
        qwen3: "Qwen3ForCausalLM",
      }[c.family];
      const config: Record<string, unknown> = {
        architectures: [arch],
        model_type: c.family,
        ...common,
        hidden_size: c.hidden,
        intermediate_size: c.intermediate,
        num_hidden_layers: c.layers,
        num_attention_heads: c.heads,
        num_key_value_heads: c.kvHeads,
        head_dim: c.headDim,
        hidden_act: "silu",
        max_position_embeddings: c.maxPositions,
        initializer_range: 0.02,
        rms_norm_eps: c.normEps,
        use_cache: true,
        tie_word_embeddings: c.tieWordEmbeddings,
        rope_theta: c.ropeTheta,
        rope_scaling: ropeScalingJson(c),
        attention_dropout: 0.0,
      };
      if (c.family === "llama")
        Object.assign(config, { attention_bias: c.attentionBias, mlp_bias: c.mlpBias, pretraining_tp: 1 });
      if (c.family === "qwen3") config["attention_bias"] = c.attentionBias;
      // Mistral and Qwen attend within a sliding window; the prompts here are far shorter than it.
      if (c.family === "mistral") config["sliding_window"] = 4096;
      if (c.family === "qwen2" || c.family === "qwen3")
        Object.assign(config, { use_sliding_window: false, sliding_window: null, max_window_layers: c.layers });
      return config;
    }
    case "gpt_neox":
      return {
        architectures: ["GPTNeoXForCausalLM"],
        model_type: "gpt_neox",
        ...common,
        hidden_size: c.hidden,
        intermediate_size: c.intermediate,
        num_hidden_layers: c.layers,
        num_attention_heads: c.heads,
        hidden_act: "gelu",
        rotary_pct: c.rotaryPct,
        rotary_emb_base: c.ropeTheta,
        max_position_embeddings: c.maxPositions,
        initializer_range: 0.02,
        layer_norm_eps: c.normEps,
        use_cache: true,
        tie_word_embeddings: false,
        use_parallel_residual: c.parallelResidual,
        attention_bias: c.attentionBias,
        attention_dropout: 0.0,
        hidden_dropout: 0.0,
      };
    case "gptj":
      return {
        architectures: ["GPTJForCausalLM"],
        model_type: "gptj",
        ...common,
        n_embd: c.hidden,
        n_layer: c.layers,
        n_head: c.heads,
        n_inner: c.intermediate,
        n_positions: c.maxPositions,
        rotary_dim: c.rotaryDim,
        activation_function: "gelu_new",
        layer_norm_epsilon: c.normEps,
        initializer_range: 0.02,
        resid_pdrop: 0.0,
        embd_pdrop: 0.0,
        attn_pdrop: 0.0,
        use_cache: true,
        tie_word_embeddings: false,
      };
    case "gpt2":
      return {
        architectures: ["GPT2LMHeadModel"],
        model_type: "gpt2",
        ...common,
        n_embd: c.hidden,
        n_layer: c.layers,
        n_head: c.heads,
        n_inner: c.intermediate,
        n_positions: c.maxPositions,
        n_ctx: c.maxPositions,
        activation_function: "gelu_new",
        layer_norm_epsilon: c.normEps,
        initializer_range: 0.02,
        tie_word_embeddings: true,
      };
  }
}

/** rope_scaling as Llama checkpoints write it: llama3 with rope_type (Llama 3.x), linear with the older type key. */
function ropeScalingJson(c: ResolvedCheckpoint): Record<string, unknown> | null {
  const s = c.ropeScaling;
  if (s === null) return null;
  if (s.type === "linear") return { type: "linear", factor: s.factor };
  return {
    factor: s.factor,
    high_freq_factor: s.highFreqFactor,
    low_freq_factor: s.lowFreqFactor,
    original_max_position_embeddings: s.originalMaxPositionEmbeddings,
    rope_type: "llama3",
  };
}
