/**
 * config.json (Hugging Face layout) → a validated {@link ModelConfig}: one normalised description
 * of every supported family, which the weight loader, the graph builder and the analyses read.
 *
 * Each family's keys and their defaults are those of its transformers configuration class
 * (configuration_gpt2.py, configuration_llama.py, ...): see the FAMILIES table in families.ts.
 * A model_type outside it is refused here, at load, with the supported list, not deep inside the
 * graph builder with a missing tensor.
 */
import { BadConfigError, UnsupportedArchitectureError } from "./errors.ts";
import { FAMILIES } from "./families.ts";
import { ConfigFields, SUPPORTED_ARCHITECTURES, TORCH_DTYPES } from "./model-config.ts";
import type { Architecture, ModelConfig, TorchDtype } from "./model-config.ts";
import { readRotary } from "./rope-config.ts";

export { ConfigFields, SUPPORTED_ARCHITECTURES, TORCH_DTYPES };
export type { Activation, ModelConfig, NormKind, RopeScaling, Rotary, TorchDtype } from "./model-config.ts";
export type { Architecture };

/** Validates a parsed config.json; `configPath` is the file, named in every error. */
export function parseModelConfig(json: unknown, configPath: string): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new BadConfigError(configPath, "(root)", "config.json must be a JSON object");
  }
  const f = new ConfigFields(json as Record<string, unknown>, configPath);
  const modelType = f.raw["model_type"];
  if (typeof modelType !== "string") {
    throw new BadConfigError(
      configPath,
      "model_type",
      `field model_type must be a string naming the architecture (got ${JSON.stringify(modelType) ?? "nothing"})`,
    );
  }
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(modelType)) {
    throw new UnsupportedArchitectureError(configPath, modelType, SUPPORTED_ARCHITECTURES);
  }
  const family = FAMILIES[modelType as Architecture];
  const k = family.keys;

  const nLayer = f.int(k.layers);
  const nHead = f.int(k.heads);
  const dModel = f.int(k.hidden);
  const dMlp = f.int(k.mlp, family.defaults.mlp?.(dModel));
  const nPositions = f.int(k.positions);
  const vocabSize = f.int("vocab_size");
  // head_dim, where the family has one, may differ from hidden / heads (Qwen3: 128 by default).
  const headDimKey =
    k.headDim !== undefined && f.value(k.headDim, family.defaults.headDim) !== undefined ? k.headDim : undefined;
  if (headDimKey === undefined && dModel % nHead !== 0) {
    throw new BadConfigError(configPath, k.heads, `${k.hidden} ${dModel} is not divisible by ${k.heads} ${nHead}`);
  }
  const dHead = headDimKey === undefined ? dModel / nHead : f.int(headDimKey, family.defaults.headDim);
  // A null num_key_value_heads means the head count; a missing one the class default (Mistral 8,
  // Qwen 32, Llama the head count).
  const nKvHead =
    k.kvHeads === undefined || f.raw[k.kvHeads] === null ? nHead : f.int(k.kvHeads, family.defaults.kvHeads ?? nHead);
  if (nHead % nKvHead !== 0) {
    throw new BadConfigError(
      configPath,
      k.kvHeads!,
      `${k.heads} ${nHead} is not a multiple of ${k.kvHeads} ${nKvHead}`,
    );
  }
  const structure = family.structure(f);
  const rotary =
    structure.rotary === null ? null : readRotary(f, structure.rotary, dHead, family.defaults.ropeTheta ?? 10000);
  const dtype = f.value("torch_dtype", f.value("dtype", null));
  if (dtype !== null && !(TORCH_DTYPES as readonly unknown[]).includes(dtype)) {
    throw f.bad(
      f.raw["torch_dtype"] === undefined ? "dtype" : "torch_dtype",
      `one of ${TORCH_DTYPES.join(", ")}`,
      dtype,
    );
  }

  return {
    architecture: modelType as Architecture,
    nLayer,
    nHead,
    nKvHead,
    dModel,
    dHead,
    dMlp,
    nPositions,
    vocabSize,
    norm: structure.norm,
    normEps: f.positive(k.eps, family.defaults.eps),
    rotary,
    mlp: structure.activation === "silu" ? "swiglu" : "gelu",
    activation: structure.activation,
    bias: structure.bias,
    parallel: structure.parallel,
    qkNorm: structure.qkNorm,
    tiedEmbeddings: f.bool("tie_word_embeddings", family.defaults.tied),
    slidingWindow: structure.slidingWindow,
    dtype: dtype as TorchDtype | null,
  };
}
