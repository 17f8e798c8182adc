/**
 * Planner: cells × stages → shards (docs/architecture.md decision 8). The first stage of every cell is
 * planned at once; a later stage is planned when the stage before it is merged, because its
 * inputs (the top head, each case's CNA neurons, the neurons the cell lists) come from that merge.
 */
import { createHash } from "node:crypto";
import {
  METHOD_VERSION,
  RESULT_FORMAT_VERSION,
  TOP_TOKENS,
  TOP_TOKENS_STAGE,
  checkLimit,
  pairCount,
  ranges,
  shardContent,
} from "../core/index.ts";
import { cellsOf } from "../core/index.ts";
import type {
  CaseTopK,
  CellKey,
  ListedNeurons,
  ModelDigest,
  ShardStage,
  ShardTask,
  StageName,
  SweepLimits,
  SweepSpec,
} from "../core/index.ts";
import type { HeadRef } from "../core/index.ts";

export interface PlanCell {
  key: CellKey;
  modelPath: string;
}

/** What the planner needs of a sweep (a resolved sweep file maps onto it). */
export interface PlanSpec {
  sweepId: string;
  cells: PlanCell[];
  /** each model's content digest when the sweep was planned, by model id: part of every shard id */
  models: Record<string, ModelDigest>;
  stages: StageName[];
  /** the pair rule of every cell */
  sample: number | "all";
  casesSeed: number;
  pairsPerShard: number;
  topK: number;
  target: "predicted" | "correct";
  ks: number[];
  verifySeed: number;
  /** ablate this head in every cell instead of each cell's top head */
  fixedHead?: HeadRef;
}

export interface PlannedShard {
  id: string;
  task: ShardTask;
}

export interface StageInputs {
  head?: HeadRef;
  /** verify: each CNA shard's per-case neurons, by its pair range "start-end" (stages share ranges) */
  perCaseByRange?: ReadonlyMap<string, CaseTopK[]>;
  /** top-tokens: the neurons the cell's rankings list */
  listed?: ListedNeurons;
}

export const rangeKey = (start: number, end: number): string => `${start}-${end}`;

export const shardIdOf = (task: ShardTask): string =>
  createHash("sha256").update(shardContent(task)).digest("hex").slice(0, 32);

/** Operand pairs of a cell under the spec's rule (1D cells always use every pair). */
export function cellPairCount(spec: PlanSpec, key: CellKey): number {
  const all = pairCount(key.op, key.digits);
  return spec.sample === "all" || key.digits === 1 ? all : Math.min(spec.sample, all);
}

/** The stages every cell runs: the sweep's, then top tokens when its rankings list neurons. */
export function cellStages(spec: { readonly stages: readonly PlanSpec["stages"][number][] }): ShardStage[] {
  const lists = spec.stages.includes("cna") || spec.stages.includes("attribution");
  return lists ? [...spec.stages, TOP_TOKENS_STAGE] : [...spec.stages];
}

/** Shards of one stage of a cell: one per pair range, one for top tokens (a cell's lists are short). */
export function stageShardCount(spec: PlanSpec, key: CellKey, stage: ShardStage): number {
  return stage === TOP_TOKENS_STAGE ? 1 : Math.ceil(cellPairCount(spec, key) / spec.pairsPerShard);
}

/** Shards of one stage in every cell, planned or not yet. */
export function expectedStageShards(spec: PlanSpec, stage: ShardStage): number {
  return spec.cells.reduce((n, c) => n + stageShardCount(spec, c.key, stage), 0);
}

/** Shards of every stage of every cell, planned or not yet. */
export function plannedShardCount(spec: PlanSpec): number {
  return cellStages(spec).reduce((n, stage) => n + expectedStageShards(spec, stage), 0);
}

/** Refuses a sweep with more cells than `limits` allow, before any of its models is read. */
export function checkCellLimit(spec: SweepSpec, limits: SweepLimits, source: string): void {
  const cells = spec.models.length * spec.operators.length * spec.digits.length * spec.templates.length;
  checkLimit(
    limits,
    "maxCells",
    cells,
    `${source}: the sweep has ${cells} cells (${spec.models.length} models × ${spec.operators.length} operators × ${spec.digits.length} digit ranges × ${spec.templates.length} templates)`,
  );
}

/** Refuses a plan with more shards than `limits` allow, before any of it is stored or published. */
export function checkShardLimit(plan: PlanSpec, limits: SweepLimits, source: string): void {
  const shards = plannedShardCount(plan);
  checkLimit(limits, "maxShards", shards, `${source}: the sweep plans ${shards} shards`);
}

export function planStage(spec: PlanSpec, cell: PlanCell, stage: ShardStage, inputs: StageInputs = {}): PlannedShard[] {
  const total = cellPairCount(spec, cell.key);
  const base = (start: number, end: number): Pick<ShardTask, "sweepId" | "cell" | "versions" | "pairs"> => ({
    sweepId: spec.sweepId,
    cell: {
      model: cell.key.model,
      modelPath: cell.modelPath,
      modelDigest: digestOf(spec, cell.key.model),
      op: cell.key.op,
      digits: cell.key.digits,
      template: cell.key.template,
    },
    versions: { resultFormat: RESULT_FORMAT_VERSION, method: METHOD_VERSION },
    pairs: { sample: spec.sample, seed: spec.casesSeed, start, end },
  });
  if (stage === TOP_TOKENS_STAGE) {
    if (!inputs.listed)
      throw new RangeError(`stage ${stage} of ${cellName(cell.key)} planned without the neurons it lists`);
    // over the cell's whole pair range, whose merged results picked the neurons
    const task: ShardTask = {
      ...base(0, total),
      stage,
      topK: spec.topK,
      target: spec.target,
      listed: inputs.listed,
      tokenCount: TOP_TOKENS,
    };
    return [{ id: shardIdOf(task), task }];
  }
  const head = stage === "cna" || stage === "verify" ? (inputs.head ?? spec.fixedHead) : undefined;
  if ((stage === "cna" || stage === "verify") && !head)
    throw new RangeError(`stage ${stage} of ${cellName(cell.key)} planned without a head`);
  return ranges(total, spec.pairsPerShard).map(([start, end]) => {
    const task: ShardTask = {
      ...base(start, end),
      stage,
      // CNA keeps enough neurons per case for the largest verification K.
      topK:
        stage === "verify"
          ? Math.max(...spec.ks)
          : stage === "cna" && spec.stages.includes("verify")
            ? Math.max(spec.topK, ...spec.ks)
            : spec.topK,
      target: spec.target,
      ...(head ? { head } : {}),
      ...(stage === "verify"
        ? { ks: spec.ks, verifySeed: spec.verifySeed, perCase: inputs.perCaseByRange?.get(rangeKey(start, end)) ?? [] }
        : {}),
    };
    return { id: shardIdOf(task), task };
  });
}

function digestOf(spec: PlanSpec, model: string): string {
  const d = spec.models[model];
  if (!d) throw new RangeError(`plan ${spec.sweepId} has no digest for model ${model}`);
  return d.digest;
}

export function cellName(key: CellKey): string {
  return `${key.model} ${key.op} ${key.digits}D t${key.template}`;
}

/**
 * The planner's view of a resolved sweep file; `sweepId` names this run of it, `digests` gives
 * every model's content digest (by model id) as the planner's host read it.
 */
export function planSpecOf(spec: SweepSpec, sweepId: string, digests: Readonly<Record<string, ModelDigest>>): PlanSpec {
  const paths = new Map(spec.models.map((m) => [m.id, m.path]));
  const models: Record<string, ModelDigest> = {};
  for (const m of spec.models) {
    const d = digests[m.id];
    if (!d) throw new RangeError(`no digest for model ${m.id}`);
    models[m.id] = d;
  }
  return {
    sweepId,
    cells: cellsOf(spec).map((key) => ({ key, modelPath: paths.get(key.model)! })),
    models,
    stages: [...spec.stages],
    sample: spec.cases.pairsPerCell,
    casesSeed: spec.cases.seed,
    pairsPerShard: spec.shard.pairsPerShard,
    topK: spec.cna.topK,
    target: spec.cna.target,
    ks: [...spec.verify.ks],
    verifySeed: spec.verify.seed,
    ...(spec.cna.head ? { fixedHead: { ...spec.cna.head } } : {}),
  };
}
