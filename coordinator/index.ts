/**
 * coordinator — the control plane: plans sweeps into shards, publishes them, ingests results
 * into its data directory, merges them in pair-range order and derives rankings.
 *
 * @example
 * ```ts
 * const store = new SweepStore("/var/lib/cna/sweep-1");
 * store.open();
 * const run = new SweepRun(planSpec, store, queue);
 * await run.start();
 * // workers report through a ResultSink: { report: (r) => run.ingest(r), fail: (f) => run.fail(f) }
 * console.log(await run.done, run.rankings());
 * ```
 */
export { SweepStore, digestOf, readJournal } from "./store.ts";
export { DEFAULT_COMPACT_JOURNAL_BYTES } from "./journal.ts";
export { writeDurably } from "./blob-writer.ts";
export type { JournalEvent, StoreResult, SweepStoreOptions } from "./store.ts";
export {
  cellName,
  cellPairCount,
  cellStages,
  checkCellLimit,
  checkShardLimit,
  expectedStageShards,
  planSpecOf,
  planStage,
  plannedShardCount,
  rangeKey,
  shardIdOf,
} from "./planner.ts";
export type { PlanCell, PlannedShard, PlanSpec, StageInputs } from "./planner.ts";
export { SweepRun, quarantinedCount, replayJournal } from "./sweep.ts";
export type {
  ShardEventLabels,
  ShardState,
  StageProgress,
  SweepEvent,
  SweepReplay,
  SweepState,
  SweepStatus,
} from "./sweep.ts";
export {
  BadResultError,
  DataDirError,
  DiskFullError,
  NothingToRerunError,
  StoreError,
  SweepCancelledError,
  SweepNotFoundError,
} from "./errors.ts";
export { openDataDir } from "./data-dir.ts";
export { TERMINAL_STATES } from "./backend.ts";
export type { ShardOutcome, SweepBackend, SweepView } from "./backend.ts";
export { DEFAULT_MAX_RESULT_BYTES, MAX_RESULT_BYTES_FLAG, startSweepServer } from "./grpc/index.ts";
export type { SweepServer, SweepServerOptions } from "./grpc/index.ts";
export { Coordinator, DEFAULT_WORKER_QUIET_MS, VIEW_QUARANTINED_LISTED } from "./coordinator.ts";
export { WorkerPresence } from "./presence.ts";
export { GC_TRASH_DIR, SWEEPS_DIR, collectSweeps } from "./gc.ts";
export type { CollectedSweep, CollectOptions, CollectResult } from "./gc.ts";
export type { WorkerPresenceOptions } from "./presence.ts";
export type { CoordinatorOptions, SubmitOptions, SubmittedSweep } from "./coordinator.ts";
export { CoordinatorMetrics, DEFAULT_SWEEP_GRACE_MS, resolveCoordinatorMetricsOptions } from "./metrics.ts";
export type {
  CoordinatorMetricsOptions,
  CoordinatorMetricsSources,
  ResolvedCoordinatorMetricsOptions,
} from "./metrics.ts";
