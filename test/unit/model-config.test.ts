import { describe, expect, it } from "vitest";
import { familyConfig, resolveCheckpointOptions } from "../../scripts/random-checkpoint.ts";
import type { RandomCheckpointOptions } from "../../scripts/random-checkpoint.ts";
import { parseModelConfig, SUPPORTED_ARCHITECTURES } from "../../worker/model/index.ts";

const PATH = "/models/x/config.json";
const zoo = {
  architectures: ["GPT2LMHeadModel"],
  model_type: "gpt2",
  n_layer: 2,
  n_head: 4,
  n_embd: 64,
  n_inner: 256,
  n_positions: 64,
  n_ctx: 64,
  vocab_size: 50,
  layer_norm_epsilon: 1e-5,
  activation_function: "gelu_new",
  tie_word_embeddings: true,
};

/** config.json of public checkpoints, as their repositories hold them (the keys the engine reads). */
const PYTHIA_70M = {
  architectures: ["GPTNeoXForCausalLM"],
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: "gelu",
  hidden_size: 512,
  intermediate_size: 2048,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 2048,
  model_type: "gpt_neox",
  num_attention_heads: 8,
  num_hidden_layers: 6,
  rotary_emb_base: 10000,
  rotary_pct: 0.25,
  tie_word_embeddings: false,
  torch_dtype: "float16",
  use_parallel_residual: true,
  vocab_size: 50304,
};
const LLAMA_32_1B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  hidden_act: "silu",
  hidden_size: 2048,
  head_dim: 64,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  vocab_size: 128256,
};
const QWEN3_06B = {
  architectures: ["Qwen3ForCausalLM"],
  attention_bias: false,
  head_dim: 128,
  hidden_act: "silu",
  hidden_size: 1024,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  model_type: "qwen3",
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  use_sliding_window: false,
  vocab_size: 151936,
};
const GPTJ_6B = {
  architectures: ["GPTJForCausalLM"],
  activation_function: "gelu_new",
  layer_norm_epsilon: 1e-5,
  model_type: "gptj",
  n_embd: 4096,
  n_head: 16,
  n_inner: null,
  n_layer: 28,
  n_positions: 2048,
  rotary_dim: 64,
  tie_word_embeddings: false,
  vocab_size: 50400,
};
const MISTRAL_7B = {
  architectures: ["MistralForCausalLM"],
  hidden_act: "silu",
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: "mistral",
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  sliding_window: 4096,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
  vocab_size: 32000,
};

function thrown(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error("expected an error");
}

const noBias = { qkv: false, out: false, mlp: false, unembed: false };

describe("parseModelConfig", () => {
  it("parses a zoo config.json", () => {
    expect(parseModelConfig(zoo, PATH)).toEqual({
      architecture: "gpt2",
      nLayer: 2,
      nHead: 4,
      nKvHead: 4,
      dModel: 64,
      dHead: 16,
      dMlp: 256,
      nPositions: 64,
      vocabSize: 50,
      norm: "layernorm",
      normEps: 1e-5,
      rotary: null,
      mlp: "gelu",
      activation: "gelu_new",
      bias: { qkv: true, out: true, mlp: true, unembed: false },
      parallel: "none",
      qkNorm: false,
      tiedEmbeddings: true,
      slidingWindow: null,
      dtype: null,
    });
  });

  it("applies GPT2Config defaults to optional fields (n_inner null = 4*n_embd)", () => {
    const { layer_norm_epsilon, activation_function, tie_word_embeddings, ...bare } = zoo;
    void [layer_norm_epsilon, activation_function, tie_word_embeddings];
    const config = parseModelConfig({ ...bare, n_inner: null }, PATH);
    expect(config).toMatchObject({ dMlp: 256, normEps: 1e-5, activation: "gelu_new", tiedEmbeddings: true });
    expect(parseModelConfig({ ...zoo, activation_function: "gelu_pytorch_tanh" }, PATH).activation).toBe("gelu_new");
    expect(parseModelConfig({ ...zoo, activation_function: "gelu", tie_word_embeddings: false }, PATH)).toMatchObject({
      activation: "gelu",
      tiedEmbeddings: false,
    });
  });

  it("reads Pythia's GPT-NeoX config: LayerNorm, parallel residual, a quarter of each head rotated, untied", () => {
    expect(parseModelConfig(PYTHIA_70M, PATH)).toEqual({
      architecture: "gpt_neox",
      nLayer: 6,
      nHead: 8,
      nKvHead: 8,
      dModel: 512,
      dHead: 64,
      dMlp: 2048,
      nPositions: 2048,
      vocabSize: 50304,
      norm: "layernorm",
      normEps: 1e-5,
      rotary: { layout: "rotate-half", dims: 16, theta: 10000, scaling: null },
      mlp: "gelu",
      activation: "gelu",
      bias: { qkv: true, out: true, mlp: true, unembed: false },
      parallel: "two-norms",
      qkNorm: false,
      tiedEmbeddings: false,
      slidingWindow: null,
      dtype: "float16",
    });
    expect(
      parseModelConfig({ ...PYTHIA_70M, use_parallel_residual: false, attention_bias: false, rotary_pct: 1 }, PATH),
    ).toMatchObject({
      parallel: "none",
      bias: { qkv: false, out: false, mlp: true },
      rotary: { dims: 64 },
    });
    // GPTNeoXConfig's defaults: parallel residual, rotary_pct 0.25, rotary_emb_base 10000, attention_bias true
    const { use_parallel_residual, rotary_pct, rotary_emb_base, ...bare } = PYTHIA_70M;
    void [use_parallel_residual, rotary_pct, rotary_emb_base];
    expect(parseModelConfig(bare, PATH)).toMatchObject({
      parallel: "two-norms",
      rotary: { dims: 16, theta: 10000 },
      bias: { qkv: true },
    });
  });

  it("reads Llama 3.2's config: GQA, explicit head_dim, llama3 rope scaling, tied", () => {
    expect(parseModelConfig(LLAMA_32_1B, PATH)).toEqual({
      architecture: "llama",
      nLayer: 16,
      nHead: 32,
      nKvHead: 8,
      dModel: 2048,
      dHead: 64,
      dMlp: 8192,
      nPositions: 131072,
      vocabSize: 128256,
      norm: "rmsnorm",
      normEps: 1e-5,
      rotary: {
        layout: "rotate-half",
        dims: 64,
        theta: 500000,
        scaling: { type: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
      },
      mlp: "swiglu",
      activation: "silu",
      bias: noBias,
      parallel: "none",
      qkNorm: false,
      tiedEmbeddings: true,
      slidingWindow: null,
      dtype: "bfloat16",
    });
    // LlamaConfig's defaults: num_key_value_heads = heads, head_dim = hidden / heads, untied, theta 10000, eps 1e-6
    const { num_key_value_heads, head_dim, tie_word_embeddings, rope_theta, rope_scaling, rms_norm_eps, ...bare } =
      LLAMA_32_1B;
    void [num_key_value_heads, head_dim, tie_word_embeddings, rope_theta, rope_scaling, rms_norm_eps];
    expect(parseModelConfig(bare, PATH)).toMatchObject({
      nKvHead: 32,
      dHead: 64,
      tiedEmbeddings: false,
      normEps: 1e-6,
      rotary: { theta: 10000, scaling: null },
    });
    expect(
      parseModelConfig({ ...LLAMA_32_1B, rope_scaling: { type: "linear", factor: 2 } }, PATH).rotary!.scaling,
    ).toEqual({ type: "linear", factor: 2 });
    expect(parseModelConfig({ ...LLAMA_32_1B, attention_bias: true, mlp_bias: true }, PATH).bias).toEqual({
      qkv: true,
      out: true,
      mlp: true,
      unembed: false,
    });
    // newer exports: rope_parameters instead of rope_theta + rope_scaling
    const { rope_theta: t, rope_scaling: s, ...modern } = LLAMA_32_1B;
    void [t, s];
    expect(
      parseModelConfig({ ...modern, rope_parameters: { rope_type: "linear", factor: 4, rope_theta: 1234 } }, PATH)
        .rotary,
    ).toEqual({
      layout: "rotate-half",
      dims: 64,
      theta: 1234,
      scaling: { type: "linear", factor: 4 },
    });
  });

  it("reads Qwen3 (q/k norm, head_dim 128 by default, KV heads 32 by default), Qwen2 (q/k/v biases) and Mistral (sliding window)", () => {
    expect(parseModelConfig(QWEN3_06B, PATH)).toMatchObject({
      architecture: "qwen3",
      nHead: 16,
      nKvHead: 8,
      dModel: 1024,
      dHead: 128,
      qkNorm: true,
      bias: noBias,
      tiedEmbeddings: true,
      slidingWindow: null,
      rotary: { dims: 128, theta: 1000000 },
    });
    const { head_dim, num_key_value_heads, ...bare } = QWEN3_06B;
    void [head_dim, num_key_value_heads];
    expect(parseModelConfig({ ...bare, num_attention_heads: 32 }, PATH)).toMatchObject({ dHead: 128, nKvHead: 32 });
    expect(parseModelConfig({ ...QWEN3_06B, num_key_value_heads: null }, PATH).nKvHead).toBe(16);
    expect(parseModelConfig({ ...QWEN3_06B, model_type: "qwen2", head_dim: undefined }, PATH)).toMatchObject({
      architecture: "qwen2",
      dHead: 64,
      qkNorm: false,
      bias: { qkv: true, out: false, mlp: false, unembed: false },
    });
    expect(parseModelConfig({ ...QWEN3_06B, use_sliding_window: true, sliding_window: 512 }, PATH).slidingWindow).toBe(
      512,
    );
    expect(parseModelConfig(MISTRAL_7B, PATH)).toMatchObject({
      architecture: "mistral",
      nKvHead: 8,
      dHead: 128,
      bias: noBias,
      slidingWindow: 4096,
      qkNorm: false,
    });
    const { num_key_value_heads: kv, sliding_window: w, ...mistralBare } = MISTRAL_7B;
    void [kv, w];
    expect(parseModelConfig(mistralBare, PATH)).toMatchObject({ nKvHead: 8, slidingWindow: 4096 });
    expect(parseModelConfig({ ...MISTRAL_7B, sliding_window: null }, PATH).slidingWindow).toBeNull();
  });

  it("reads GPT-J's config: one shared norm, interleaved rotary on rotary_dim with base 10000, lm_head bias", () => {
    expect(parseModelConfig(GPTJ_6B, PATH)).toEqual({
      architecture: "gptj",
      nLayer: 28,
      nHead: 16,
      nKvHead: 16,
      dModel: 4096,
      dHead: 256,
      dMlp: 16384,
      nPositions: 2048,
      vocabSize: 50400,
      norm: "layernorm",
      normEps: 1e-5,
      rotary: { layout: "interleaved", dims: 64, theta: 10000, scaling: null },
      mlp: "gelu",
      activation: "gelu_new",
      bias: { qkv: false, out: false, mlp: true, unembed: true },
      parallel: "shared-norm",
      qkNorm: false,
      tiedEmbeddings: false,
      slidingWindow: null,
      dtype: null,
    });
  });

  it("reads every config the random-checkpoint generator writes as the generator meant it", () => {
    const variants: RandomCheckpointOptions[] = [
      { family: "llama", heads: 4, kvHeads: 2, ropeScaling: { type: "linear", factor: 2 }, attentionBias: true },
      { family: "mistral", heads: 4, kvHeads: 1 },
      { family: "qwen2", heads: 4, kvHeads: 2, tieWordEmbeddings: true },
      { family: "qwen3", hidden: 32, heads: 4, kvHeads: 2, headDim: 12, dtype: "BF16" },
      { family: "gpt_neox", parallelResidual: false, rotaryPct: 0.5 },
      { family: "gptj", rotaryDim: 4, dtype: "F16" },
      { family: "gpt2" },
    ];
    for (const v of variants) {
      const r = resolveCheckpointOptions(v);
      const c = parseModelConfig(familyConfig(r, 50, { bos: 0, eos: 0 }), PATH);
      expect(c).toMatchObject({
        architecture: r.family,
        nLayer: r.layers,
        nHead: r.heads,
        nKvHead: r.kvHeads,
        dModel: r.hidden,
        dHead: r.headDim,
        dMlp: r.intermediate,
        nPositions: r.maxPositions,
        vocabSize: 50,
        normEps: r.normEps,
        tiedEmbeddings: r.tieWordEmbeddings,
        dtype: { F32: "float32", F16: "float16", BF16: "bfloat16" }[r.dtype],
      });
      if (r.family === "gptj") expect(c.rotary!.dims).toBe(r.rotaryDim);
      if (r.family === "gpt_neox") expect(c.rotary!.dims).toBe(Math.trunc(r.headDim * r.rotaryPct));
    }
  });

  it("refuses other architectures with the supported list", () => {
    for (const modelType of ["bert", "phi", "gemma", "olmo"]) {
      const err = thrown(() => parseModelConfig({ ...zoo, model_type: modelType }, PATH));
      expect(err).toMatchObject({
        name: "UnsupportedArchitectureError",
        code: "UNSUPPORTED_ARCHITECTURE",
        retryable: false,
        path: PATH,
        architecture: modelType,
      });
      expect(err.message).toBe(
        `unsupported architecture "${modelType}" in /models/x/config.json (supported: ${SUPPORTED_ARCHITECTURES.join(", ")})`,
      );
    }
    expect(SUPPORTED_ARCHITECTURES).toEqual(["gpt2", "llama", "mistral", "qwen2", "qwen3", "gpt_neox", "gptj"]);
  });

  it("names the bad or missing field", () => {
    const cases: [Record<string, unknown>, Record<string, unknown>, string][] = [
      [zoo, { model_type: undefined }, "model_type"],
      [zoo, { n_layer: undefined }, "n_layer"],
      [zoo, { n_head: 0 }, "n_head"],
      [zoo, { n_embd: "64" }, "n_embd"],
      [zoo, { n_inner: 2.5 }, "n_inner"],
      [zoo, { n_positions: -1 }, "n_positions"],
      [zoo, { vocab_size: null }, "vocab_size"],
      [zoo, { n_head: 3 }, "n_head"], // 64 is not divisible by 3
      [zoo, { layer_norm_epsilon: 0 }, "layer_norm_epsilon"],
      [zoo, { activation_function: "relu" }, "activation_function"],
      [zoo, { tie_word_embeddings: "yes" }, "tie_word_embeddings"],
      [zoo, { torch_dtype: "float8_e4m3fn" }, "torch_dtype"],
      [LLAMA_32_1B, { num_key_value_heads: 5 }, "num_key_value_heads"], // 32 heads do not share 5 KV heads evenly
      [LLAMA_32_1B, { hidden_act: "gelu" }, "hidden_act"],
      [LLAMA_32_1B, { rope_scaling: { rope_type: "yarn", factor: 4 } }, "rope_scaling.rope_type"],
      [
        LLAMA_32_1B,
        { rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4 } },
        "rope_scaling.original_max_position_embeddings",
      ],
      [LLAMA_32_1B, { rope_scaling: { type: "linear", factor: -2 } }, "rope_scaling.factor"],
      [LLAMA_32_1B, { rope_scaling: "linear" }, "rope_scaling"],
      [LLAMA_32_1B, { head_dim: 0 }, "head_dim"],
      [PYTHIA_70M, { rotary_pct: 0.3 }, "rotary_pct"], // 64 * 0.3 = 19 dims: odd
      [PYTHIA_70M, { use_parallel_residual: 1 }, "use_parallel_residual"],
      [GPTJ_6B, { rotary_dim: 300 }, "rotary_dim"], // wider than a 256-wide head
      [GPTJ_6B, { rotary_dim: null }, "rotary_dim"],
      [MISTRAL_7B, { sliding_window: 0 }, "sliding_window"],
    ];
    for (const [base, patch, field] of cases) {
      const err = thrown(() => parseModelConfig({ ...base, ...patch }, PATH));
      expect(err, field).toMatchObject({
        name: "BadConfigError",
        code: "BAD_CONFIG",
        field,
        path: PATH,
        retryable: false,
      });
      expect(err.message).toContain(field);
      expect(err.message).toContain(PATH);
    }
    expect(thrown(() => parseModelConfig([], PATH))).toMatchObject({ code: "BAD_CONFIG" });
    expect(thrown(() => parseModelConfig({ ...zoo, activation_function: "relu" }, PATH)).message).toContain("gelu_new");
  });
});
