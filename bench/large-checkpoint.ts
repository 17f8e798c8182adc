/**
 * The large-model benchmark's checkpoint: scripts/random-checkpoint.ts's llama-3.2-1b preset (the
 * Llama-3 tokenizer, bf16) in two shards, written at bench time, or a directory a previous run
 * kept (--keep) holding the same options.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PRESETS, writeRandomCheckpoint } from "../scripts/random-checkpoint.ts";
import type { RandomCheckpointOptions } from "../scripts/random-checkpoint.ts";
import { BenchUsageError } from "./errors.ts";
import type { LargeModelBenchOptions } from "./large-model-options.ts";
import { round } from "./timing.ts";

export const LARGE_PRESET = "llama-3.2-1b";
/** --quick: the preset's family, tokenizer and vocabulary around a tiny transformer. */
const QUICK_SHAPE: Partial<RandomCheckpointOptions> = {
  hidden: 128,
  heads: 4,
  kvHeads: 2,
  headDim: 32,
  intermediate: 512,
};
/** Written beside a kept checkpoint: the options it was made with, so a later run knows it may reuse it. */
const MARKER = "cna-bench-checkpoint.json";

export function checkpointOptions(o: Pick<LargeModelBenchOptions, "quick" | "layers">): RandomCheckpointOptions {
  return { ...PRESETS[LARGE_PRESET]!, ...(o.quick ? QUICK_SHAPE : {}), layers: o.layers, shards: 2 };
}

export interface PreparedCheckpoint {
  dir: string;
  options: RandomCheckpointOptions;
  /** false: a kept directory with the same options was reused */
  written: boolean;
  writeSeconds: number;
  /** Bytes of the weight files (safetensors shards). */
  weightFileBytes: number;
}

/** Writes the checkpoint into `dir`, or reuses it when `keep` and it holds one with the same options. */
export function prepareCheckpoint(dir: string, options: RandomCheckpointOptions, keep: boolean): PreparedCheckpoint {
  const marker = join(dir, MARKER);
  const wanted = JSON.stringify(options);
  if (keep && existsSync(dir) && readdirSync(dir).length > 0) {
    const found = existsSync(marker) ? readFileSync(marker, "utf8") : null;
    if (found === null)
      throw new BenchUsageError(
        "--keep",
        `--keep ${dir}: the directory is not empty and was not written by this benchmark; give a new or empty directory`,
      );
    if (found === wanted)
      return { dir, options, written: false, writeSeconds: 0, weightFileBytes: weightFileBytes(dir) };
    throw new BenchUsageError(
      "--keep",
      `--keep ${dir} holds a checkpoint of other options (${found}); give another directory or remove it`,
    );
  }
  const t0 = performance.now();
  writeRandomCheckpoint(dir, options);
  if (keep) writeFileSync(marker, wanted);
  return {
    dir,
    options,
    written: true,
    writeSeconds: round((performance.now() - t0) / 1000),
    weightFileBytes: weightFileBytes(dir),
  };
}

function weightFileBytes(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".safetensors"))
    .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}
