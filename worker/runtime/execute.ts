/**
 * Runs one shard: load (or reuse) the cell's model, rebuild the cell's cases, run the stage's
 * analysis over the shard's pairs, return the mergeable partial.
 */
import { buildCases, selectPairs } from "../../core/index.ts";
import type { Case, AnyPartial, ShardTask } from "../../core/index.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import type { Checkpoint } from "../model/checkpoint.ts";
import { weightBytes } from "../model/gpt2-weights.ts";
import { attribution } from "../analyses/attribution.ts";
import { cna } from "../analyses/cna.ts";
import { headAblation } from "../analyses/head-ablation.ts";
import { verify } from "../analyses/verify.ts";
import { EngineInputError } from "../onnx/errors.ts";
import { ModelRunner } from "../onnx/runner.ts";
import type { RunnerOptions } from "../onnx/runner.ts";

export interface LoadedModel {
  checkpoint: Checkpoint;
  runner: ModelRunner;
  bytes: number;
}

export interface ModelCacheOptions extends RunnerOptions {
  /** evict least recently used models beyond this many bytes of weights (default 8 GiB) */
  budgetBytes?: number;
  onEvent?: (event: "hit" | "load" | "evict", model: string, ms: number) => void;
}

/** Loaded models by path, least recently used evicted past the memory budget. */
export class ModelCache {
  private readonly models = new Map<string, Promise<LoadedModel>>();
  private readonly budget: number;

  constructor(private readonly options: ModelCacheOptions = {}) {
    this.budget = options.budgetBytes ?? 8 * 2 ** 30;
  }

  async get(path: string): Promise<LoadedModel> {
    const hit = this.models.get(path);
    if (hit) {
      this.models.delete(path);
      this.models.set(path, hit); // most recently used last
      this.options.onEvent?.("hit", path, 0);
      return hit;
    }
    const started = performance.now();
    const loading = (async () => {
      const checkpoint = await loadCheckpoint(path);
      const runner = new ModelRunner(path, checkpoint.config, checkpoint.weights, this.options);
      return { checkpoint, runner, bytes: weightBytes(checkpoint.weights) };
    })();
    this.models.set(path, loading);
    loading.catch(() => this.models.delete(path));
    const model = await loading;
    this.options.onEvent?.("load", path, performance.now() - started);
    await this.evict();
    return model;
  }

  private async evict(): Promise<void> {
    let total = 0;
    const entries = [...this.models.entries()];
    for (const [, m] of entries) total += (await m).bytes;
    for (const [path, m] of entries.slice(0, -1)) {
      if (total <= this.budget) break;
      this.models.delete(path);
      const loaded = await m;
      total -= loaded.bytes;
      await loaded.runner.close();
      this.options.onEvent?.("evict", path, 0);
    }
  }

  /** paths of the models held (or loading) */
  loaded(): string[] {
    return [...this.models.keys()];
  }

  async close(): Promise<void> {
    const all = [...this.models.values()];
    this.models.clear();
    await Promise.allSettled(all.map(async (m) => (await m).runner.close()));
  }
}

/** The cases of a shard: the cell's full case list (ids are cell-wide) restricted to its pairs. */
export function shardCases(task: ShardTask, ck: Checkpoint): Case[] {
  const pairs = selectPairs(task.cell.op, task.cell.digits, { sample: task.pairs.sample, seed: task.pairs.seed });
  if (task.pairs.start < 0 || task.pairs.end > pairs.length || task.pairs.start >= task.pairs.end) {
    throw new EngineInputError("pairs", `shard pair range [${task.pairs.start}, ${task.pairs.end}) is outside the cell's ${pairs.length} pairs`);
  }
  // Ids are positions in the whole cell's case list, so every pair before the range counts too.
  const before = buildCases(pairs.slice(0, task.pairs.start), task.cell.template, ck.tokenizer).length;
  return buildCases(pairs.slice(task.pairs.start, task.pairs.end), task.cell.template, ck.tokenizer).map((c) => ({ ...c, id: c.id + before }));
}

export interface ExecuteOptions {
  /** called while the shard runs, so the queue knows the worker is alive */
  onProgress?: (done: number, total: number) => void;
}

export async function executeShard(task: ShardTask, models: ModelCache, o: ExecuteOptions = {}): Promise<AnyPartial> {
  const { checkpoint, runner } = await models.get(task.cell.modelPath);
  const cases = shardCases(task, checkpoint);
  const need = (what: string) => new EngineInputError(what, `a ${task.stage} shard needs ${what}`);
  switch (task.stage) {
    case "head-ablation":
      return headAblation(runner, cases, { onProgress: o.onProgress });
    case "attribution":
      return attribution(runner, cases, { topK: task.topK, target: task.target, onProgress: o.onProgress });
    case "cna":
      if (!task.head) throw need("head");
      return cna(runner, cases, { head: task.head, topK: task.topK, target: task.target, onProgress: o.onProgress });
    case "verify": {
      if (!task.head) throw need("head");
      const ids = new Set(cases.map((c) => c.id));
      const perCase = task.perCase?.filter((t) => ids.has(t.caseId));
      return verify(runner, cases, { head: task.head, target: task.target, ks: task.ks, seed: task.verifySeed, perCase, onProgress: o.onProgress });
    }
  }
}
