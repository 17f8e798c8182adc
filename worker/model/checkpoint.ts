/**
 * A Hugging Face-layout checkpoint directory: config.json, model.safetensors (or shards with
 * model.safetensors.index.json), tokenizer.json (+ tokenizer_config.json). Loaded and cross-checked in one place so a worker either holds a
 * consistent model or fails before it takes a shard.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseModelConfig } from "./config.ts";
import { digestCheckpoint } from "./digest.ts";
import type { ModelConfig } from "./config.ts";
import { BadConfigError, ModelNotFoundError } from "./errors.ts";
import { openWeightFiles } from "./weight-files.ts";
import { loadWeights } from "./weights.ts";
import type { ModelWeights } from "./weights.ts";
import { loadTokenizer } from "./tokenizer.ts";
import type { ModelTokenizer } from "./tokenizer.ts";

export interface Checkpoint {
  dir: string;
  config: ModelConfig;
  weights: ModelWeights;
  tokenizer: ModelTokenizer;
  /**
   * The content digest of the files read (config, tokenizer, weights; see digest.ts). Shards
   * carry the digest they were planned with, so a worker holding other files refuses them.
   */
  digest: string;
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) throw new ModelNotFoundError(dir, `model directory ${dir} does not exist or is not a directory`);

  const configPath = join(dir, "config.json");
  const config = parseModelConfig(parseJson(await readRequired(configPath), configPath), configPath);

  const files = openWeightFiles(dir);
  let weights: ModelWeights;
  try {
    weights = loadWeights(files, config);
  } finally {
    files.close();
  }
  const { digest } = await digestCheckpoint(dir);

  const tokenizer = loadTokenizer(dir);
  // Ids at or past vocab_size would index past the embedding. Smaller is fine: configs often
  // pad vocab_size to a multiple of 64 or 128 for speed.
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new BadConfigError(
      configPath,
      "vocab_size",
      `field vocab_size is ${config.vocabSize} but tokenizer.json has ids up to ${tokenizer.vocabSize - 1}`,
    );
  }
  return { dir, config, weights, tokenizer, digest };
}

async function readRequired(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new ModelNotFoundError(path, `cannot read ${path}: ${(err as Error).message}`, err);
  }
}

function parseJson(bytes: Buffer, path: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new BadConfigError(path, "(root)", `not valid JSON (${(err as Error).message})`, err);
  }
}

/** The layer and head counts of the checkpoint in `dir`, from its config.json alone (no weights read). */
export async function readModelHeads(dir: string): Promise<{ nLayer: number; nHead: number }> {
  const configPath = join(dir, "config.json");
  const config = parseModelConfig(parseJson(await readRequired(configPath), configPath), configPath);
  return { nLayer: config.nLayer, nHead: config.nHead };
}
