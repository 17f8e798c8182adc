/**
 * config.json (Hugging Face layout) → a validated {@link ModelConfig}.
 *
 * Only `gpt2` is built so far (the zoo). Other families the design plans (llama, gptj,
 * gpt_neox) and anything else are refused here, at load, with the supported list — not deep
 * inside the graph builder with a missing tensor.
 */
import type { ModelDims } from "../../core/index.ts";
import { BadConfigError, UnsupportedArchitectureError } from "./errors.ts";

export const SUPPORTED_ARCHITECTURES = ["gpt2"] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];
export type Activation = "gelu_new" | "gelu";

/**
 * The one description of a model's shape that everything after loading reads: the graph
 * builders, the runner, the analyses. Its nLayer / nHead / dMlp are core's ModelDims, the part a
 * partial result carries.
 */
export interface ModelConfig extends ModelDims {
  architecture: Architecture;
  /** Residual width, `n_embd`. */
  dModel: number;
  /** dModel / nHead. */
  dHead: number;
  nPositions: number;
  vocabSize: number;
  layerNormEps: number;
  activation: Activation;
  /** True when the unembedding is wte (GPT-2's default); false needs an `lm_head.weight`. */
  tiedEmbeddings: boolean;
}

/**
 * HF GPT2Config defaults for the fields a config.json may omit. The structural sizes
 * (n_layer, n_head, n_embd, n_positions, vocab_size) have no default here: guessing GPT-2
 * small's values for a file that lacks them would only move the error to the weight shapes.
 */
const GPT2_DEFAULTS = { layer_norm_epsilon: 1e-5, activation_function: "gelu_new", tie_word_embeddings: true } as const;

/**
 * "gelu_pytorch_tanh" is the same tanh approximation as "gelu_new" under another name
 * (newer exports use it); "gelu" is the exact erf form.
 */
const ACTIVATIONS: Readonly<Record<string, Activation>> = { gelu_new: "gelu_new", gelu_pytorch_tanh: "gelu_new", gelu: "gelu" };

/** Validates a parsed config.json; `configPath` is the file, named in every error. */
export function parseModelConfig(json: unknown, configPath: string): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new BadConfigError(configPath, "(root)", "config.json must be a JSON object");
  }
  const raw = json as Record<string, unknown>;
  const modelType = raw["model_type"];
  if (typeof modelType !== "string") {
    throw new BadConfigError(configPath, "model_type", `field model_type must be a string naming the architecture (got ${JSON.stringify(modelType) ?? "nothing"})`);
  }
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(modelType)) {
    throw new UnsupportedArchitectureError(configPath, modelType, SUPPORTED_ARCHITECTURES);
  }

  const int = (field: string, fallback?: number): number => {
    const value = raw[field] ?? fallback;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw new BadConfigError(configPath, field, `field ${field} must be a positive integer (got ${JSON.stringify(value) ?? "nothing"})`);
    }
    return value;
  };
  const nLayer = int("n_layer");
  const nHead = int("n_head");
  const dModel = int("n_embd");
  const dMlp = int("n_inner", 4 * dModel); // null in HF configs means the default too
  const nPositions = int("n_positions");
  const vocabSize = int("vocab_size");
  if (dModel % nHead !== 0) {
    throw new BadConfigError(configPath, "n_head", `n_embd ${dModel} is not divisible by n_head ${nHead}`);
  }

  const eps = raw["layer_norm_epsilon"] ?? GPT2_DEFAULTS.layer_norm_epsilon;
  if (typeof eps !== "number" || !(eps > 0) || !Number.isFinite(eps)) {
    throw new BadConfigError(configPath, "layer_norm_epsilon", `field layer_norm_epsilon must be a positive number (got ${JSON.stringify(eps)})`);
  }
  const activationName = raw["activation_function"] ?? GPT2_DEFAULTS.activation_function;
  const activation = typeof activationName === "string" ? ACTIVATIONS[activationName] : undefined;
  if (activation === undefined) {
    throw new BadConfigError(
      configPath,
      "activation_function",
      `field activation_function must be one of ${Object.keys(ACTIVATIONS).join(", ")} (got ${JSON.stringify(activationName)})`,
    );
  }
  const tied = raw["tie_word_embeddings"] ?? GPT2_DEFAULTS.tie_word_embeddings;
  if (typeof tied !== "boolean") {
    throw new BadConfigError(configPath, "tie_word_embeddings", `field tie_word_embeddings must be true or false (got ${JSON.stringify(tied)})`);
  }

  return {
    architecture: "gpt2",
    nLayer,
    nHead,
    dModel,
    dHead: dModel / nHead,
    dMlp,
    nPositions,
    vocabSize,
    layerNormEps: eps,
    activation,
    tiedEmbeddings: tied,
  };
}
