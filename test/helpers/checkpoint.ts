/**
 * Writes small safetensors files and GPT-2 checkpoint directories for tests, in the layout
 * models/arith.py and models/train.py write (sorted names, packed offsets, 8-byte aligned data,
 * char-level BPE tokenizer.json). Weights are deterministic (mulberry32), not trained. The
 * encoding and the character tokenizer are scripts/random-checkpoint.ts's, which writes
 * checkpoints of every other family.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32 } from "../../core/index.ts";
import {
  charTokenizerConfig,
  charTokenizerJson,
  encodeSafetensors,
  VOCAB_CHARS,
} from "../../scripts/random-checkpoint.ts";
import type { TensorSpec } from "../../scripts/random-checkpoint.ts";

export {
  encodeSafetensors,
  u16Bytes,
  charTokenizerConfig,
  charTokenizerJson,
  END_TOKEN,
  VOCAB_CHARS,
} from "../../scripts/random-checkpoint.ts";
export type { TensorSpec } from "../../scripts/random-checkpoint.ts";

export interface Gpt2CheckpointOptions {
  nLayer?: number; // default 2
  nHead?: number; // default 2
  nEmbd?: number; // default 8
  nPositions?: number; // default 16
  /** "transformer." as the zoo writes, "" as real GPT-2 checkpoints do. Default "transformer.". */
  prefix?: string;
  seed?: number;
  /** Merged into config.json; a field set to undefined is removed. */
  config?: Record<string, unknown>;
  /** Applied to the tensor map before writing: drop, reshape or add tensors. */
  edit?: (tensors: Record<string, TensorSpec>) => void;
}

/** Writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json into `dir`. */
export function writeGpt2Checkpoint(
  dir: string,
  options: Gpt2CheckpointOptions = {},
): { config: Record<string, unknown>; tensors: Record<string, TensorSpec> } {
  const { nLayer = 2, nHead = 2, nEmbd = 8, nPositions = 16, prefix = "transformer.", seed = 1 } = options;
  const vocabSize = VOCAB_CHARS.length + 1;
  const rng = mulberry32(seed);
  const t = (...shape: number[]): TensorSpec => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (rng.next() - 0.5) * 0.2;
    return { shape, data };
  };
  const tensors: Record<string, TensorSpec> = {
    [`${prefix}wte.weight`]: t(vocabSize, nEmbd),
    [`${prefix}wpe.weight`]: t(nPositions, nEmbd),
    [`${prefix}ln_f.weight`]: t(nEmbd),
    [`${prefix}ln_f.bias`]: t(nEmbd),
  };
  for (let l = 0; l < nLayer; l++) {
    const h = `${prefix}h.${l}`;
    Object.assign(tensors, {
      [`${h}.ln_1.weight`]: t(nEmbd),
      [`${h}.ln_1.bias`]: t(nEmbd),
      [`${h}.attn.c_attn.weight`]: t(nEmbd, 3 * nEmbd),
      [`${h}.attn.c_attn.bias`]: t(3 * nEmbd),
      [`${h}.attn.c_proj.weight`]: t(nEmbd, nEmbd),
      [`${h}.attn.c_proj.bias`]: t(nEmbd),
      [`${h}.ln_2.weight`]: t(nEmbd),
      [`${h}.ln_2.bias`]: t(nEmbd),
      [`${h}.mlp.c_fc.weight`]: t(nEmbd, 4 * nEmbd),
      [`${h}.mlp.c_fc.bias`]: t(4 * nEmbd),
      [`${h}.mlp.c_proj.weight`]: t(4 * nEmbd, nEmbd),
      [`${h}.mlp.c_proj.bias`]: t(nEmbd),
    });
  }
  options.edit?.(tensors);

  const config: Record<string, unknown> = {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    n_layer: nLayer,
    n_head: nHead,
    n_embd: nEmbd,
    n_inner: 4 * nEmbd,
    n_positions: nPositions,
    n_ctx: nPositions,
    vocab_size: vocabSize,
    layer_norm_epsilon: 1e-5,
    activation_function: "gelu_new",
    tie_word_embeddings: true,
    bos_token_id: 0,
    eos_token_id: 0,
    torch_dtype: "float32",
  };
  for (const [key, value] of Object.entries(options.config ?? {})) {
    if (value === undefined) delete config[key];
    else config[key] = value;
  }

  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(tensors));
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(charTokenizerJson(), null, 2) + "\n");
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(charTokenizerConfig(nPositions), null, 2) + "\n");
  return { config, tensors };
}
