/**
 * Shards: the unit of work a worker pulls. A shard names one stage of one cell over a range of
 * the cell's operand pairs; the worker rebuilds the cell's cases from the pair rule and the
 * model's tokenizer, so messages stay small and the coordinator needs no model files.
 *
 * A shard's id is the hash of its canonical content (`shardContent`), so the same work always
 * has the same id: publishing it twice is deduplicated and a result reported twice is recognised.
 */
import type { CaseTopK, ListedNeurons } from "./partials.ts";
import type { DigitRange, Operator, TemplateId } from "./tasks.ts";
import type { HeadRef } from "./heads.ts";

/** The stages a sweep file may list, in the order they run for a cell. */
export const STAGES = ["head-ablation", "attribution", "cna", "verify"] as const;
export type StageName = (typeof STAGES)[number];

/**
 * The last stage of every cell whose rankings list neurons (a sweep with `cna` or `attribution`):
 * what each listed neuron writes (docs/method.md §4), computed by a worker, which holds the
 * model. It is implied, never listed in a sweep file: the neurons are known only once the
 * cell's other stages are merged.
 */
export const TOP_TOKENS_STAGE = "top-tokens";
/** Every stage a shard may belong to. */
export const SHARD_STAGES = [...STAGES, TOP_TOKENS_STAGE] as const;
export type ShardStage = (typeof SHARD_STAGES)[number];

export interface ShardCell {
  model: string;
  /** where workers find the checkpoint directory */
  modelPath: string;
  /** the checkpoint's content digest at planning time; a worker holding other files refuses the shard */
  modelDigest: string;
  op: Operator;
  digits: DigitRange;
  template: TemplateId;
}

export interface ShardTask {
  sweepId: string;
  stage: ShardStage;
  cell: ShardCell;
  /** the result layout and the method the result is computed under (core/versions.ts) */
  versions: { resultFormat: number; method: number };
  /** the cell's pair rule and this shard's pair range [start, end) */
  pairs: { sample: number | "all"; seed: number; start: number; end: number };
  /** cna and verify: the head ablated */
  head?: HeadRef;
  topK: number;
  target: "predicted" | "correct";
  /** verify */
  ks?: number[];
  verifySeed?: number;
  /** verify: each case's CNA neurons, from the merged CNA stage of the cell */
  perCase?: CaseTopK[];
  /** top-tokens: the neurons the cell's rankings list, each with σ, from its merged stages */
  listed?: ListedNeurons;
  /** top-tokens: tokens per neuron */
  tokenCount?: number;
}

/** Canonical JSON (sorted keys) of everything that defines the work; hash it for the shard id. */
export function shardContent(task: ShardTask): string {
  return canonicalJson(task);
}

/**
 * Written as loops that append to one string (no entry arrays, filters or maps per object): it
 * runs for every shard planned, 100,000 of them when a large sweep is replayed at a restart.
 * Keys sort by UTF-16 code units, as `<` compares them; an undefined property is left out and
 * an undefined array element is written as nothing, as Array.prototype.join does.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++)
      out += (i > 0 ? "," : "") + ((canonicalJson(value[i]) as string | undefined) ?? "");
    return `${out}]`;
  }
  if (value !== null && typeof value === "object") {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object).sort();
    let out = "{";
    for (const key of keys) {
      const v = object[key];
      if (v === undefined) continue;
      out += `${out.length > 1 ? "," : ""}${JSON.stringify(key)}:${canonicalJson(v)}`;
    }
    return `${out}}`;
  }
  return JSON.stringify(value);
}

/** [start, end) ranges of at most `size` covering 0..total. */
export function ranges(total: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s < total; s += size) out.push([s, Math.min(total, s + size)]);
  return out;
}

/**
 * What identifies a checkpoint's content: sha256 of each file the engine reads (by name within
 * the directory) and one digest combining them. Computed where the files are (worker/model).
 */
export interface ModelDigest {
  digest: string;
  files: Record<string, string>;
}

/** The files whose digests differ between two digests of one model (added, removed or changed). */
export function changedFiles(before: ModelDigest, after: ModelDigest): string[] {
  const names = new Set([...Object.keys(before.files), ...Object.keys(after.files)]);
  return [...names].filter((n) => before.files[n] !== after.files[n]).sort();
}

/**
 * The queue message id of a shard's `attempt`-th publish: the shard id, then `@n` for a shard
 * published again after its stored result was lost (a corrupt blob), so the broker's duplicate
 * window does not drop the new publish as a repeat of the first.
 */
export function shardMessageId(shardId: string, republish: number): string {
  return republish === 0 ? shardId : `${shardId}@${republish}`;
}

/** The shard id a queue message id names (see {@link shardMessageId}). */
export function shardIdOfMessage(messageId: string): string {
  const at = messageId.indexOf("@");
  return at < 0 ? messageId : messageId.slice(0, at);
}
