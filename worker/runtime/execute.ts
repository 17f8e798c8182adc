/**
 * Runs one shard: load (or reuse) the cell's model, rebuild the cell's cases, run the stage's
 * analysis over the shard's pairs, return the mergeable partial. A top-tokens shard needs no
 * cases: it projects the neurons it lists through the model's unembedding.
 */
import {
  ModelChangedError,
  TOP_TOKENS_STAGE,
  buildCases,
  countBoundaryFallbacks,
  selectPairs,
  withBoundaryFallbacks,
} from "../../core/index.ts";
import type { Case, AnyPartial, CasePartial, ShardTask, StageName } from "../../core/index.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import type { Checkpoint } from "../model/checkpoint.ts";
import { weightBytes } from "../model/weights.ts";
import { attribution } from "../analyses/attribution.ts";
import { cna } from "../analyses/cna.ts";
import { headAblation } from "../analyses/head-ablation.ts";
import { listedTopTokens } from "../analyses/tokens.ts";
import { verify } from "../analyses/verify.ts";
import { EngineInputError } from "../onnx/errors.ts";
import { ModelRunner } from "../onnx/runner.ts";
import type { RunnerOptions } from "../onnx/runner.ts";

export interface LoadedModel {
  checkpoint: Checkpoint;
  runner: ModelRunner;
  bytes: number;
  /** per cell rule, how many cases each pair gives (-1: not tokenized yet); see shardCases */
  caseCounts: Map<string, Int32Array>;
}

export interface ModelCacheOptions extends RunnerOptions {
  /** refuses a path this worker may not open (outside its --models-root), before any file is read */
  checkModelPath?: (path: string, field: string) => void;
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

  /**
   * The model at `path`; with `digest`, one whose files have that content digest: a model held
   * from before its files changed is loaded again, and files that differ from the digest are
   * refused (MODEL_CHANGED) rather than analysed under the planned model's name.
   */
  async get(path: string, digest?: string): Promise<LoadedModel> {
    if (digest === undefined) return this.load(path);
    const held = await this.load(path);
    if (held.checkpoint.digest === digest) return held;
    await this.drop(path);
    const fresh = await this.load(path);
    if (fresh.checkpoint.digest === digest) return fresh;
    throw new ModelChangedError(
      path,
      [],
      `the model files at ${path} have content digest ${fresh.checkpoint.digest.slice(0, 12)}…, but the shard was planned with ${digest.slice(0, 12)}…: they changed since the sweep was planned`,
    );
  }

  private async drop(path: string): Promise<void> {
    const m = this.models.get(path);
    if (!m) return;
    this.models.delete(path);
    await (await m).runner.close();
  }

  private async load(path: string): Promise<LoadedModel> {
    this.options.checkModelPath?.(path, "model path");
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
      const runner = new ModelRunner(path, checkpoint.config, checkpoint.weights, {
        ...this.options,
        digest: checkpoint.digest,
      });
      return { checkpoint, runner, bytes: weightBytes(checkpoint.weights), caseCounts: new Map() };
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

/**
 * The cases of a shard: the cell's case list restricted to its pairs, with cell-wide ids (a
 * case's id is its position in the whole cell's list: verification seeds its random control
 * with it). Only the shard's own pairs are turned into cases; the cases of the pairs before the
 * range are counted, and the count of each pair is kept in `counts` (one array per cell rule,
 * per loaded model), so a worker tokenizes each pair of a cell about once, not once per shard.
 */
export function shardCases(task: ShardTask, ck: Checkpoint, counts: Map<string, Int32Array> = new Map()): Case[] {
  const pairs = selectPairs(task.cell.op, task.cell.digits, { sample: task.pairs.sample, seed: task.pairs.seed });
  if (task.pairs.start < 0 || task.pairs.end > pairs.length || task.pairs.start >= task.pairs.end) {
    throw new EngineInputError(
      "pairs",
      `shard pair range [${task.pairs.start}, ${task.pairs.end}) is outside the cell's ${pairs.length} pairs`,
    );
  }
  const rule = `${task.cell.op}|${task.cell.digits}|${task.cell.template}|${task.pairs.sample}|${task.pairs.seed}`;
  let perPair = counts.get(rule);
  if (!perPair) counts.set(rule, (perPair = new Int32Array(pairs.length).fill(-1)));
  let before = 0;
  for (let i = 0; i < task.pairs.start; i++) {
    if (perPair[i]! < 0) perPair[i] = buildCases([pairs[i]!], task.cell.template, ck.tokenizer).length;
    before += perPair[i]!;
  }
  const cases: Case[] = [];
  for (let i = task.pairs.start; i < task.pairs.end; i++) {
    const own = buildCases([pairs[i]!], task.cell.template, ck.tokenizer);
    perPair[i] = own.length;
    for (const c of own) cases.push({ ...c, id: before + cases.length });
  }
  return cases;
}

export interface ExecuteOptions {
  /** called while the shard runs, so the queue knows the worker is alive */
  onProgress?: (done: number, total: number) => void;
}

export async function executeShard(task: ShardTask, models: ModelCache, o: ExecuteOptions = {}): Promise<AnyPartial> {
  const { checkpoint, runner, caseCounts } = await models.get(task.cell.modelPath, task.cell.modelDigest);
  if (task.stage === TOP_TOKENS_STAGE) {
    if (!task.listed || task.tokenCount === undefined) throw need(task, "listed neurons and tokenCount");
    return listedTopTokens(runner, checkpoint.tokenizer, task.listed, task.tokenCount);
  }
  const cases = shardCases(task, checkpoint, caseCounts);
  // the shard's own pairs only, so the cell's count is the sum over its shards
  return withBoundaryFallbacks(await runStage(task, task.stage, runner, cases, o), countBoundaryFallbacks(cases));
}

const need = (task: ShardTask, what: string) => new EngineInputError(what, `a ${task.stage} shard needs ${what}`);

async function runStage(
  task: ShardTask,
  stage: StageName,
  runner: ModelRunner,
  cases: Case[],
  o: ExecuteOptions,
): Promise<CasePartial> {
  switch (stage) {
    case "head-ablation":
      return headAblation(runner, cases, { onProgress: o.onProgress });
    case "attribution":
      return attribution(runner, cases, { topK: task.topK, target: task.target, onProgress: o.onProgress });
    case "cna":
      if (!task.head) throw need(task, "head");
      return cna(runner, cases, { head: task.head, topK: task.topK, target: task.target, onProgress: o.onProgress });
    case "verify": {
      if (!task.head) throw need(task, "head");
      const ids = new Set(cases.map((c) => c.id));
      const perCase = task.perCase?.filter((t) => ids.has(t.caseId));
      return verify(runner, cases, {
        head: task.head,
        target: task.target,
        ks: task.ks,
        seed: task.verifySeed,
        perCase,
        onProgress: o.onProgress,
      });
    }
  }
}
