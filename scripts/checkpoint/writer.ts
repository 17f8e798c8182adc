/**
 * Writes a random checkpoint directory in Hugging Face's layout: config.json, the weights as one
 * model.safetensors or as shards with model.safetensors.index.json, and the tokenizer files.
 *
 * The weights stream to disk: each file's header is computed from shapes alone, then every
 * tensor is drawn, encoded and written a chunk at a time, so a 2.5 GB checkpoint needs a few MB
 * of memory. Each tensor has its own seeded stream (deriveSeed(seed, name)), so its values do
 * not depend on the dtype's rounding of other tensors, the number of shards or the chunk size.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { deriveSeed } from "../../core/index.ts";
import { CheckpointOptionError } from "./errors.ts";
import { familyConfig, tensorPlan } from "./families.ts";
import type { TensorPlan } from "./families.ts";
import { encodeValues, valueStream } from "./numbers.ts";
import { resolveCheckpointOptions } from "./options.ts";
import type { RandomCheckpointOptions, ResolvedCheckpoint } from "./options.ts";
import { DTYPE_BYTES, safetensorsHeader } from "./safetensors.ts";
import { writeTokenizer } from "./tokenizers.ts";

export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";
/** Values drawn and written per step; 1 Mi float32 = 4 MiB of scratch. */
const DEFAULT_CHUNK_VALUES = 1 << 20;

export interface WrittenTensor {
  name: string;
  shape: number[];
  file: string;
}

export interface WrittenCheckpoint {
  dir: string;
  resolved: ResolvedCheckpoint;
  /** Embedding rows: the vocabSize option, or the tokenizer's own size. */
  vocabSize: number;
  config: Record<string, unknown>;
  /** Weight files in order (one, or the shards). */
  files: string[];
  /** In the model's order (embedding, layers, final norm, head). */
  tensors: WrittenTensor[];
  /** Sum of the tensors' bytes: the index's metadata.total_size. */
  totalBytes: number;
}

export interface WriteOptions {
  /** Values per write; only memory and speed depend on it, never the bytes. Default 1 Mi. */
  chunkValues?: number;
}

export function writeRandomCheckpoint(
  dir: string,
  options: RandomCheckpointOptions,
  io: WriteOptions = {},
): WrittenCheckpoint {
  const c = resolveCheckpointOptions(options);
  mkdirSync(dir, { recursive: true });
  const tokenizer = writeTokenizer(dir, c.tokenizer, c.maxPositions);
  const vocabSize = c.vocabSize ?? tokenizer.vocabSize;
  if (vocabSize < tokenizer.vocabSize) {
    throw new CheckpointOptionError(
      "vocabSize",
      `vocabSize ${vocabSize} is smaller than the ${c.tokenizer} tokenizer's ${tokenizer.vocabSize} ids: every id needs an embedding row`,
    );
  }
  const plan = tensorPlan(c, vocabSize);
  if (c.shards > plan.length)
    throw new CheckpointOptionError("shards", `shards (${c.shards}) exceeds the checkpoint's ${plan.length} tensors`);

  const bytesOf = (t: TensorPlan) => t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[c.dtype];
  const groups = splitIntoShards(plan.map(bytesOf), c.shards);
  const files = groups.map((_, k) =>
    c.shards === 1 ? SINGLE_FILE : `model-${pad5(k + 1)}-of-${pad5(c.shards)}.safetensors`,
  );
  const tensors: WrittenTensor[] = [];
  const chunk = io.chunkValues ?? DEFAULT_CHUNK_VALUES;
  const scratch = new Float32Array(chunk);
  const encoded = new Uint8Array(new ArrayBuffer(chunk * 4));

  groups.forEach((indices, k) => {
    const members = indices.map((i) => plan[i]!);
    const layout = safetensorsHeader(
      members.map((t) => ({ name: t.name, dtype: c.dtype, shape: t.shape, byteLength: bytesOf(t) })),
    );
    const fd = openSync(join(dir, files[k]!), "w");
    try {
      writeSync(fd, layout.header);
      for (const entry of layout.order) {
        const t = members.find((m) => m.name === entry.name)!;
        const draw = valueStream(deriveSeed(c.seed, t.name), t.init);
        for (let left = bytesOf(t) / DTYPE_BYTES[c.dtype]; left > 0; left -= chunk) {
          const count = Math.min(chunk, left);
          draw(scratch, count);
          writeSync(fd, encodeValues(scratch, count, c.dtype, encoded));
        }
      }
    } finally {
      closeSync(fd);
    }
    for (const t of members) tensors.push({ name: t.name, shape: t.shape, file: files[k]! });
  });

  const totalBytes = plan.reduce((sum, t) => sum + bytesOf(t), 0);
  if (c.shards > 1) {
    const weightMap: Record<string, string> = {};
    for (const t of [...tensors].sort((a, b) => (a.name < b.name ? -1 : 1))) weightMap[t.name] = t.file;
    writeFileSync(
      join(dir, INDEX_FILE),
      JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2) + "\n",
    );
  }
  const config = familyConfig(c, vocabSize, tokenizer);
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  return { dir, resolved: c, vocabSize, config, files, tensors, totalBytes };
}

/**
 * Consecutive runs of tensors, one per shard, each closing once it holds its share of the bytes
 * (as save_pretrained fills shards in model order); never an empty shard.
 */
export function splitIntoShards(bytes: readonly number[], shards: number): number[][] {
  const total = bytes.reduce((a, b) => a + b, 0);
  const groups: number[][] = Array.from({ length: shards }, () => []);
  let k = 0;
  let acc = 0;
  bytes.forEach((b, i) => {
    groups[k]!.push(i);
    acc += b;
    const shardsLeft = shards - k - 1;
    if (shardsLeft > 0 && (acc * shards >= (k + 1) * total || bytes.length - i - 1 === shardsLeft)) k++;
  });
  return groups;
}

function pad5(n: number): string {
  return String(n).padStart(5, "0");
}
