/**
 * One sweep's state machine: plans each cell's stages, publishes their shards, ingests results
 * (first stored copy wins, duplicates are compared by digest), quarantines shards that cannot
 * succeed, plans the next stage when a stage is merged, and derives rankings from the stored
 * partials in a fixed order — so the rankings are bit-identical whatever ran the shards.
 *
 * Restart: the planner is deterministic and results are keyed by shard id, so `start()` on a
 * store that already holds results re-derives every stage, republishes only what is unfinished
 * (the queue deduplicates by shard id) and carries on. Stage results are merged in pair-range
 * order, which depends only on the sweep's content.
 */
import {
  LISTED_NEURONS,
  TOP_TOKENS_STAGE,
  applyTopTokens,
  buildCellRankings,
  casesOf,
  decodePartial,
  partialProblem,
  listedNeurons,
  mergeAll,
  rankHeads,
  RANKINGS_SCHEMA,
  shardIdOfMessage,
  shardMessageId,
} from "../core/index.ts";
import type {
  AnyPartial,
  CaseTopK,
  CellPartials,
  CellRankings,
  CnaPartial,
  ModelDims,
  Rankings,
  ShardFailure,
  ShardQueue,
  ShardReport,
  ShardStage,
  ShardTask,
} from "../core/index.ts";
import { BadResultError, NothingToRerunError, ShardNotFoundError, SweepCancelledError } from "./errors.ts";
import { cellName, cellStages, expectedStageShards, planStage, plannedShardCount, rangeKey } from "./planner.ts";
import type { PlanCell, PlannedShard, PlanSpec, StageInputs } from "./planner.ts";
import type { JournalEvent, SweepStore } from "./store.ts";

/** publishes in flight at once: enough to hide the broker's round trip, few enough to stay polite */
const PUBLISH_WINDOW = 32;

export type SweepState = "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED";
export type ShardState = "PENDING" | "STORED" | "QUARANTINED";

interface ShardRecord extends PlannedShard {
  cell: CellRun;
  /** planning order, for listing */
  order: number;
  state: ShardState;
  attempts: number;
  /** times published again after its stored result turned out corrupt (see shardMessageId) */
  republished: number;
  reason?: string;
}

interface CellRun {
  cell: PlanCell;
  stageIndex: number;
  shards: Map<ShardStage, ShardRecord[]>;
  /** shards of the current stage not stored yet: the stage is merged when it reaches 0 */
  unstored: number;
  merged: Partial<Record<ShardStage, AnyPartial>>;
  failed?: string;
}

export interface StageProgress {
  stage: ShardStage;
  /** shards planned so far (a stage is planned per cell when the stage before it is merged) */
  total: number;
  /** shards the stage will have once planned in every cell (one per pair range; top tokens: one per cell) */
  expected: number;
  stored: number;
  quarantined: number;
}

export interface SweepStatus {
  sweepId: string;
  state: SweepState;
  cells: number;
  cellsDone: number;
  cellsFailed: number;
  stages: StageProgress[];
  /** shards of every stage of every cell, planned or not yet (stages share their pair ranges) */
  shardsExpected: number;
  shardsStored: number;
  /** cases analysed in stored shards, summed over stages */
  casesDone: number;
  duplicates: number;
  nondeterministic: number;
  redeliveries: number;
  /** quarantined shards in planning order; a view lists at most the first VIEW_QUARANTINED_LISTED (count them with quarantinedCount) */
  quarantined: Array<{ shardId: string; cell: string; stage: ShardStage; reason: string }>;
}

/** Every quarantined shard, listed or not: the stages count them all. */
export function quarantinedCount(s: { readonly stages: readonly { quarantined: number }[] }): number {
  return s.stages.reduce((n, p) => n + p.quarantined, 0);
}

/** What every event about one shard names, so an observer (metrics) needs no lookup of its own. */
export interface ShardEventLabels {
  shardId: string;
  stage: ShardStage;
  /** the cell's model id */
  model: string;
}

export type SweepEvent =
  | { type: "published"; shard: PlannedShard }
  /** first copy stored; `runMs` is the worker's compute time when it reported one */
  | ({
      type: "stored";
      worker: string;
      bytes: number;
      attempt: number;
      cases: number;
      dims: ModelDims;
      runMs?: number;
    } & ShardEventLabels)
  | ({ type: "duplicate"; matches: boolean; bytes: number; attempt: number } & ShardEventLabels)
  /** a worker reported a failed attempt (only terminal ones are reported; retryable ones are nak'd) */
  | ({ type: "failed"; code: string; retryable: boolean } & ShardEventLabels)
  | ({ type: "quarantined"; reason: string } & ShardEventLabels)
  /** a stored result failed its digest or did not decode: moved aside, the shard runs again */
  | ({ type: "corrupt" } & ShardEventLabels)
  /** a cell's stage was planned (at start, or when the stage before it merged); `shards` planned in it */
  | { type: "stage-planned"; cell: string; stage: ShardStage; shards: number }
  | { type: "stage-merged"; cell: string; stage: ShardStage }
  | { type: "finished"; state: SweepState };

export class SweepRun {
  private readonly cells: CellRun[];
  private readonly byId = new Map<string, ShardRecord>();
  /** per-stage counts, kept as shards change state, so status() costs no walk over the shards */
  private readonly progress = new Map<ShardStage, StageProgress>();
  private readonly quarantinedRecords = new Set<ShardRecord>();
  private readonly shardsExpected: number;
  /** what every cell runs, in order: the sweep's stages, then top tokens when it lists neurons */
  private readonly stages: readonly ShardStage[];
  /** planned shards whose publish has not succeeded yet (the broker was away) */
  private readonly unpublished = new Set<ShardRecord>();
  /** deliveries of each shard in earlier lives of the queue (journalled by delivered()) */
  private readonly deliveries = new Map<string, number>();
  /** shards whose stored result was found corrupt, and how often, from the journal and this run */
  private readonly republished = new Map<string, number>();
  /** publish loops running now: cancel() waits for them, so nothing lands after its purge */
  private readonly publishing = new Set<Promise<void>>();
  private state: SweepState = "RUNNING";
  private duplicates = 0;
  private nondeterministic = 0;
  private redeliveries = 0;
  private casesDone = 0;
  /** see start(): the last stage's results are not read again at a replay */
  private skipFinalMerge = false;
  private finish!: (s: SweepState) => void;
  private finished: Promise<SweepState> = new Promise((resolve) => (this.finish = resolve));

  constructor(
    readonly spec: PlanSpec,
    private readonly store: SweepStore,
    private readonly queue: ShardQueue<ShardTask>,
    private readonly onEvent: (e: SweepEvent) => void = () => undefined,
  ) {
    this.cells = spec.cells.map((cell) => ({ cell, stageIndex: 0, shards: new Map(), unstored: 0, merged: {} }));
    this.stages = cellStages(spec);
    this.shardsExpected = plannedShardCount(spec);
    for (const stage of this.stages)
      this.progress.set(stage, {
        stage,
        total: 0,
        expected: expectedStageShards(spec, stage),
        stored: 0,
        quarantined: 0,
      });
  }

  /** Resolves when every cell has finished or failed (after a rerun, when they have again). */
  get done(): Promise<SweepState> {
    return this.finished;
  }

  /**
   * Plans and publishes (or, after a restart, re-derives) every cell's current stage.
   * `finalRankingsKept`: the sweep finished in an earlier life and its rankings were written from
   * every merged stage; the last stage of each cell is then not read and merged again (its
   * results were checked when it merged, and it feeds no later stage), so restarting a finished
   * sweep costs no pass over its largest stage. rankings() of such a run lacks that stage:
   * the caller serves the kept rankings instead.
   */
  async start(
    replay: SweepReplay = replayJournal([], this.spec.sweepId),
    options: { finalRankingsKept?: boolean } = {},
  ): Promise<void> {
    this.skipFinalMerge = replay.finished && options.finalRankingsKept === true;
    for (const [id, n] of replay.republished) this.republished.set(id, n);
    for (const [id, n] of replay.deliveries) this.deliveries.set(id, n);
    const quarantined = replay.quarantined;
    for (const c of this.cells) await this.enterStage(c, {}, quarantined);
    this.checkDone();
  }

  /** Stores a reported result (first copy wins) and advances the cell; says what became of it. */
  async ingest(r: ShardReport): Promise<"stored" | "duplicate" | "duplicate-mismatch" | "discarded"> {
    const rec = this.byId.get(r.shardId);
    if (!rec || r.sweepId !== this.spec.sweepId)
      throw new BadResultError(r.shardId, `shard ${r.shardId} is not part of sweep ${this.spec.sweepId}`);
    // a worker that held a shard when the sweep was cancelled: nothing to store, nothing to retry
    if (this.state === "CANCELLED") return "discarded";
    if (r.attempt > 1) this.redeliveries++;
    const partial = checkedPartial(r, rec.task.stage);
    const stored = await this.store.putResult(r.shardId, r.result);
    const at = new Date().toISOString();
    if (stored.outcome === "duplicate") {
      this.duplicates++;
      if (!stored.matches) this.nondeterministic++;
      this.store.note({
        type: "shard-duplicate",
        sweepId: this.spec.sweepId,
        shardId: r.shardId,
        at,
        digest: stored.digest,
        matches: stored.matches,
        worker: r.worker,
      });
      this.onEvent({
        type: "duplicate",
        ...labelsOf(rec),
        matches: stored.matches,
        bytes: r.result.length,
        attempt: r.attempt,
      });
    } else {
      this.casesDone += casesOf(partial);
      this.store.note({
        type: "shard-stored",
        sweepId: this.spec.sweepId,
        shardId: r.shardId,
        at,
        digest: stored.digest,
        worker: r.worker,
        attempt: r.attempt,
      });
      this.onEvent({
        type: "stored",
        ...labelsOf(rec),
        worker: r.worker,
        bytes: r.result.length,
        attempt: r.attempt,
        cases: casesOf(partial),
        dims: partial.dims,
        ...(r.runMs !== undefined ? { runMs: r.runMs } : {}),
      });
    }
    if (rec.state === "PENDING") {
      this.setState(rec, "STORED");
      await this.advance(rec.cell);
    }
    // a report that failed because a publish did is reported again (as a duplicate): publish now.
    // Not while a publish loop runs: it takes what is unpublished, and a report must not wait
    // for a stage's whole publishing (100,000 shards at the start of a large sweep).
    if (this.publishing.size === 0 && this.unpublished.size > 0) await this.publishPending();
    return stored.outcome === "stored" ? "stored" : stored.matches ? "duplicate" : "duplicate-mismatch";
  }

  async fail(f: ShardFailure): Promise<void> {
    if (f.sweepId !== this.spec.sweepId || !this.byId.has(f.shardId))
      throw new ShardNotFoundError(this.spec.sweepId, f.shardId);
    this.store.append({
      type: "shard-failed",
      sweepId: f.sweepId,
      shardId: f.shardId,
      at: new Date().toISOString(),
      code: f.code,
      message: f.message,
      retryable: f.retryable,
      worker: f.worker,
    });
    const rec = this.byId.get(f.shardId);
    if (rec) this.onEvent({ type: "failed", ...labelsOf(rec), code: f.code, retryable: f.retryable });
    if (!f.retryable) this.quarantine(f.shardId, `${f.code}: ${f.message}`);
  }

  /**
   * The in-process queue delivered a shard: journalled before the worker sees it (written, not
   * fsynced: what it guards against is the process dying), so a shard that kills the process is
   * not retried from zero by every restart (see replayJournal).
   */
  delivered(messageId: string, deliveryCount: number): void {
    const shardId = shardIdOfMessage(messageId);
    this.deliveries.set(shardId, (this.deliveries.get(shardId) ?? 0) + 1);
    this.store.write({
      type: "shard-delivered",
      sweepId: this.spec.sweepId,
      shardId,
      at: new Date().toISOString(),
      delivery: deliveryCount,
    });
  }

  /**
   * Whether a queue message id is the shard's current message, not one it had before a rerun or
   * a corrupt result republished it (a late report that the broker gave the old one up must not
   * quarantine the new one).
   */
  isCurrentMessage(messageId: string): boolean {
    const rec = this.byId.get(shardIdOfMessage(messageId));
    return rec !== undefined && shardMessageId(rec.id, rec.republished) === messageId;
  }

  /** Whether this sweep planned the shard (any stage planned so far). */
  hasShard(shardId: string): boolean {
    return this.byId.has(shardId);
  }

  /** A shard that will not be retried (terminal failure, or out of deliveries); the queue's message id names it too. */
  quarantine(messageId: string, reason: string): void {
    const shardId = shardIdOfMessage(messageId);
    const rec = this.byId.get(shardId);
    if (!rec || rec.state !== "PENDING") return;
    rec.reason = reason;
    this.setState(rec, "QUARANTINED");
    rec.cell.failed ??= `shard ${shardId} (${rec.task.stage}) quarantined: ${reason}`;
    this.store.append({
      type: "shard-quarantined",
      sweepId: this.spec.sweepId,
      shardId,
      at: new Date().toISOString(),
      reason,
    });
    this.onEvent({ type: "quarantined", ...labelsOf(rec), reason });
    this.checkDone();
  }

  /**
   * Stops the sweep: nothing more is published (a publish loop in progress stops at its next
   * shard), the shards still waiting in the queue are purged, and results that workers still
   * report are discarded. Resolves once the queue has dropped them.
   */
  async cancel(): Promise<void> {
    if (this.state !== "RUNNING") return;
    this.state = "CANCELLED";
    this.unpublished.clear();
    this.store.append({ type: "sweep-cancelled", sweepId: this.spec.sweepId, at: new Date().toISOString() });
    this.finish(this.state);
    await Promise.allSettled([...this.publishing]);
    await this.queue.purge(this.spec.sweepId);
  }

  /**
   * Re-queues every quarantined shard once its cause has been fixed (`cna rerun --failed`): each
   * goes back to pending under a new message id (the broker terminated the old one, and its
   * duplicate window would drop the same id) with a fresh delivery budget, its cell fails no
   * more, and the sweep runs again until it finishes. Journalled before anything changes, so a
   * restart re-queues them too. Returns the re-queued shard ids, in planning order.
   * A cancelled sweep stays cancelled (SWEEP_CANCELLED); a sweep without quarantined shards has
   * nothing to rerun (NOTHING_TO_RERUN).
   */
  async requeueQuarantined(): Promise<string[]> {
    if (this.state === "CANCELLED") throw new SweepCancelledError(this.spec.sweepId);
    const records = [...this.quarantinedRecords].sort((a, b) => a.order - b.order);
    if (records.length === 0) throw new NothingToRerunError(this.spec.sweepId, this.state);
    this.store.append({
      type: "shards-requeued",
      sweepId: this.spec.sweepId,
      at: new Date().toISOString(),
      shards: records.map((rec) => ({ shardId: rec.id, republish: rec.republished + 1 })),
    });
    for (const rec of records) {
      rec.republished++;
      this.republished.set(rec.id, rec.republished);
      this.deliveries.delete(rec.id);
      delete rec.reason;
      this.setState(rec, "PENDING");
      // a cell fails only by a quarantined shard, and every one of them is re-queued
      delete rec.cell.failed;
      this.unpublished.add(rec);
    }
    if (this.state !== "RUNNING") {
      this.state = "RUNNING";
      this.finished = new Promise((resolve) => (this.finish = resolve));
    }
    // A restart of the finished sweep skipped merging each cell's last stage, because its
    // rankings were kept; this rerun writes the rankings again, so those merges are done now.
    if (this.skipFinalMerge) {
      this.skipFinalMerge = false;
      const last = this.stages.length - 1;
      for (const c of this.cells)
        if (!c.failed && c.stageIndex > last && c.merged[this.stages[last]!] === undefined) {
          c.stageIndex = last;
          await this.advance(c);
        }
    }
    await this.publishPending();
    return records.map((rec) => rec.id);
  }

  /**
   * Costs O(stages + cells + quarantined shards), not O(shards): it is asked for on every report.
   * `listQuarantined` bounds the quarantined shards listed (the first ones in planning order); the
   * stages count every one.
   */
  status(listQuarantined = Number.POSITIVE_INFINITY): SweepStatus {
    const stages = [...this.progress.values()].map((p) => ({ ...p }));
    const quarantined = [...this.quarantinedRecords]
      .sort((a, b) => a.order - b.order)
      .slice(0, listQuarantined)
      .map((rec) => ({
        shardId: rec.id,
        cell: cellName(rec.cell.cell.key),
        stage: rec.task.stage,
        reason: rec.reason ?? "",
      }));
    return {
      sweepId: this.spec.sweepId,
      state: this.state,
      cells: this.cells.length,
      cellsDone: this.cells.filter((c) => !c.failed && c.stageIndex >= this.stages.length).length,
      cellsFailed: this.cells.filter((c) => c.failed).length,
      stages,
      shardsExpected: this.shardsExpected,
      shardsStored: stages.reduce((n, p) => n + p.stored, 0),
      casesDone: this.casesDone,
      duplicates: this.duplicates,
      nondeterministic: this.nondeterministic,
      redeliveries: this.redeliveries,
      quarantined,
    };
  }

  /** Rankings from every merged stage so far (final once the sweep has finished). */
  rankings(topNeurons = LISTED_NEURONS): Rankings {
    const cells: CellRankings[] = [];
    for (const c of this.cells) {
      const cell = cellRankings(c, topNeurons);
      const tokens = c.merged[TOP_TOKENS_STAGE];
      if (cell) cells.push(tokens?.kind === "top-tokens" ? applyTopTokens(cell, tokens) : cell);
    }
    return { schema: RANKINGS_SCHEMA, cells };
  }

  private async enterStage(
    c: CellRun,
    inputs: StageInputs,
    quarantined: ReadonlyMap<string, string> = new Map(),
  ): Promise<void> {
    const stage = this.stages[c.stageIndex];
    if (!stage) return;
    const planned = planStage(this.spec, c.cell, stage, inputs);
    const records = planned.map((p, i): ShardRecord => ({
      ...p,
      cell: c,
      order: this.byId.size + i,
      state: "PENDING",
      attempts: 0,
      republished: this.republished.get(p.id) ?? 0,
    }));
    c.shards.set(stage, records);
    c.unstored = records.length;
    for (const rec of records) {
      this.byId.set(rec.id, rec);
      this.progress.get(stage)!.total++;
      const reason = quarantined.get(rec.id);
      if (this.store.hasResult(rec.id)) this.setState(rec, "STORED");
      else if (reason !== undefined) {
        rec.reason = reason;
        this.setState(rec, "QUARANTINED");
        c.failed ??= `shard ${rec.id} (${stage}) quarantined: ${reason}`;
      }
    }
    for (const rec of records) if (rec.state === "PENDING") this.unpublished.add(rec);
    this.onEvent({ type: "stage-planned", cell: cellName(c.cell.key), stage, shards: records.length });
    await this.publishPending();
    await this.advance(c);
  }

  /**
   * Publishes every planned shard not published yet, in planning order, up to PUBLISH_WINDOW at
   * a time (each publish waits for the broker's ack). A failure (the broker away) leaves the
   * rest for the next call and is thrown: the report that triggered it fails retryably, so it
   * comes back and calls this again.
   */
  private async publishPending(): Promise<void> {
    const lanes = this.publishLanes();
    this.publishing.add(lanes);
    try {
      await lanes;
    } finally {
      this.publishing.delete(lanes);
    }
  }

  private async publishLanes(): Promise<void> {
    const todo = [...this.unpublished];
    let next = 0; // an index, not shift(): shift is linear in the array's length, quadratic over a large stage
    let failed: { error: unknown } | undefined;
    const lane = async () => {
      for (let rec = todo[next++]; rec && !failed && this.state !== "CANCELLED"; rec = todo[next++]) {
        if (!this.unpublished.delete(rec) || rec.state !== "PENDING") continue;
        try {
          if (
            await this.queue.publish(shardMessageId(rec.id, rec.republished), rec.task, {
              priorDeliveries: this.deliveries.get(rec.id) ?? 0,
            })
          ) {
            this.store.note({
              type: "shard-published",
              sweepId: this.spec.sweepId,
              shardId: rec.id,
              at: new Date().toISOString(),
              task: rec.task,
            });
          }
        } catch (error) {
          this.unpublished.add(rec);
          failed ??= { error };
          return;
        }
        this.onEvent({ type: "published", shard: rec });
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUBLISH_WINDOW, todo.length) }, lane));
    if (failed) throw failed.error;
  }

  /** When every shard of the cell's stage is stored: merge in pair-range order, plan the next stage. */
  private async advance(c: CellRun): Promise<void> {
    const stage = this.stages[c.stageIndex];
    if (!stage || c.failed) return this.checkDone();
    if (c.unstored > 0) return;
    const records = c.shards.get(stage) ?? [];
    if (this.skipFinalMerge && c.stageIndex === this.stages.length - 1) {
      c.stageIndex++;
      return this.checkDone();
    }
    // A fixed order that depends only on the work (not on the sweep id in the shard ids), so
    // the same sweep file gives the same floats embedded or distributed.
    const ordered = [...records].sort((a, b) => a.task.pairs.start - b.task.pairs.start);
    const partials: AnyPartial[] = [];
    const corrupt: ShardRecord[] = [];
    for (const r of ordered) {
      const partial = this.storedPartial(r);
      if (partial) partials.push(partial);
      else corrupt.push(r);
    }
    if (corrupt.length > 0) return this.recompute(corrupt);
    c.merged[stage] = mergeAll(partials);
    this.onEvent({ type: "stage-merged", cell: cellName(c.cell.key), stage });
    c.stageIndex++;
    const inputs: StageInputs = {};
    const ha = c.merged["head-ablation"];
    if (ha?.kind === "head-ablation" && !this.spec.fixedHead) {
      const top = rankHeads(ha)[0]!;
      inputs.head = { layer: top.layer, head: top.head };
    }
    if (stage === "cna") {
      const byRange = new Map<string, CaseTopK[]>();
      ordered.forEach((r, i) =>
        byRange.set(rangeKey(r.task.pairs.start, r.task.pairs.end), (partials[i] as CnaPartial).perCase),
      );
      inputs.perCaseByRange = byRange;
      inputs.head = (c.merged.cna as CnaPartial).ablatedHead;
    }
    // the neurons the final rankings list, so the tokens computed are exactly theirs
    if (this.stages[c.stageIndex] === TOP_TOKENS_STAGE) inputs.listed = listedNeurons(cellRankings(c, LISTED_NEURONS)!);
    await this.enterStage(c, inputs);
    this.checkDone();
  }

  /** A stored result, or null when its blob is corrupt (moved aside by the store, or here when it does not decode). */
  private storedPartial(r: ShardRecord): AnyPartial | null {
    const bytes = this.store.getResult(r.id);
    if (bytes === null) return null;
    try {
      return decodePartial(bytes);
    } catch {
      this.store.setAside(r.id);
      return null;
    }
  }

  /** Shards whose stored results were corrupt go back to pending and are published again. */
  private async recompute(records: ShardRecord[]): Promise<void> {
    for (const rec of records) {
      rec.republished++;
      this.republished.set(rec.id, rec.republished);
      this.deliveries.delete(rec.id); // a new message, with its own delivery budget
      this.setState(rec, "PENDING");
      this.unpublished.add(rec);
      this.store.append({
        type: "shard-corrupt",
        sweepId: this.spec.sweepId,
        shardId: rec.id,
        at: new Date().toISOString(),
        republish: rec.republished,
      });
      this.onEvent({ type: "corrupt", ...labelsOf(rec) });
    }
    await this.publishPending();
  }

  private checkDone(): void {
    if (this.state !== "RUNNING") return;
    const open = this.cells.some((c) => !c.failed && c.stageIndex < this.stages.length);
    if (open) return;
    this.state = this.cells.some((c) => c.failed) ? "FAILED" : "SUCCEEDED";
    this.store.append({
      type: "sweep-finished",
      sweepId: this.spec.sweepId,
      at: new Date().toISOString(),
      state: this.state,
    });
    this.onEvent({ type: "finished", state: this.state });
    this.finish(this.state);
  }

  private setState(rec: ShardRecord, state: ShardState): void {
    const p = this.progress.get(rec.task.stage)!;
    if (rec.state === "STORED") {
      p.stored--;
      rec.cell.unstored++;
    }
    if (rec.state === "QUARANTINED") {
      p.quarantined--;
      this.quarantinedRecords.delete(rec);
    }
    rec.state = state;
    if (state === "STORED") {
      p.stored++;
      rec.cell.unstored--;
    }
    if (state === "QUARANTINED") {
      p.quarantined++;
      this.quarantinedRecords.add(rec);
    }
  }
}

/** What a restarted run needs from its journal: quarantined shards, corrupt-result republishes, deliveries so far. */
export interface SweepReplay {
  quarantined: Map<string, string>;
  republished: Map<string, number>;
  /** per shard, deliveries since its current message was first published (across restarts) */
  deliveries: Map<string, number>;
  cancelled: boolean;
  /** the journal says the sweep finished (SUCCEEDED or FAILED) */
  finished: boolean;
}

export function replayJournal(events: readonly JournalEvent[], sweepId: string): SweepReplay {
  const r: SweepReplay = {
    quarantined: new Map(),
    republished: new Map(),
    deliveries: new Map(),
    cancelled: false,
    finished: false,
  };
  for (const e of events) {
    if (e.sweepId !== sweepId) continue;
    if (e.type === "shard-quarantined") r.quarantined.set(e.shardId, e.reason);
    else if (e.type === "shard-corrupt") {
      // the highest republish wins: a snapshot lists corrupt marks after the events it keeps in order
      r.republished.set(e.shardId, Math.max(e.republish, r.republished.get(e.shardId) ?? 0));
      r.deliveries.delete(e.shardId);
    } else if (e.type === "shard-delivered") r.deliveries.set(e.shardId, (r.deliveries.get(e.shardId) ?? 0) + 1);
    else if (e.type === "shards-requeued")
      for (const q of e.shards) {
        r.quarantined.delete(q.shardId);
        r.republished.set(q.shardId, Math.max(q.republish, r.republished.get(q.shardId) ?? 0));
        r.deliveries.delete(q.shardId);
        // running again: the sweep-finished before it no longer describes the sweep
        r.finished = false;
      }
    else if (e.type === "sweep-cancelled") r.cancelled = true;
    else if (e.type === "sweep-finished") r.finished = true;
  }
  return r;
}

/** A cell's rankings from its merged stages, top tokens aside; null before any stage has merged. */
function cellRankings(c: CellRun, topNeurons: number): CellRankings | null {
  const m = c.merged;
  const parts: CellPartials = {
    headAblation: m["head-ablation"] as CellPartials["headAblation"],
    cna: m.cna as CellPartials["cna"],
    attribution: m.attribution as CellPartials["attribution"],
    verify: m.verify as CellPartials["verify"],
  };
  return Object.values(parts).some((p) => p !== undefined) ? buildCellRankings(c.cell.key, parts, topNeurons) : null;
}

function labelsOf(rec: ShardRecord): ShardEventLabels {
  return { shardId: rec.id, stage: rec.task.stage, model: rec.task.cell.model };
}

/**
 * A reported result as the partial of its shard's stage, or BAD_RESULT naming what is wrong: a
 * result that is not JSON, is another stage's, or does not have its stage's shape would be stored
 * as the shard's only copy and break the cell's merge later.
 */
function checkedPartial(r: ShardReport, stage: string): AnyPartial {
  let value: unknown;
  try {
    value = decodePartial(r.result);
  } catch (err) {
    throw new BadResultError(r.shardId, `the result of shard ${r.shardId} is not JSON: ${(err as Error).message}`);
  }
  const problem = partialProblem(value, stage);
  if (problem !== null)
    throw new BadResultError(r.shardId, `the result of shard ${r.shardId} is not a ${stage} partial: ${problem}`);
  return value as AnyPartial;
}
