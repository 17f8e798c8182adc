/**
 * What the coordinator offers its clients, in domain types: the sweeps it runs (SweepView), what
 * a reported result became (ShardOutcome) and the operations (SweepBackend). The Coordinator
 * implements SweepBackend; the gRPC edge (grpc/) adapts it to the wire and converts nothing else.
 *
 * Errors: throw CnaErrors. Their `code` picks the gRPC status (one table, proto/errors.ts) and
 * travels to the client in the `cna-error-code` trailer.
 */
import type { ShardFailure, ShardReport } from "../core/index.ts";
import type { SweepState, SweepStatus } from "./sweep.ts";

/** A sweep as the API shows it: its status plus what a human watching it wants. */
export interface SweepView extends SweepStatus {
  /** the sweep file's `name` */
  name: string;
  createdAt: Date;
  /** last change of any counter or state */
  updatedAt: Date;
  /** estimated seconds to finish; null while there is nothing to estimate from */
  etaSeconds: number | null;
  /** analysed cases per second, recent rate (0 before the first result) */
  casesPerSecond: number;
}

/**
 * What ReportShard answers: the first copy is stored; later copies are compared by digest; a
 * result for a cancelled sweep is discarded (and the worker acks it, no error).
 */
export type ShardOutcome = "stored" | "duplicate" | "duplicate-mismatch" | "discarded";

/** States after which a sweep never changes again (WatchSweep ends on them). */
export const TERMINAL_STATES: ReadonlySet<SweepState> = new Set<SweepState>(["SUCCEEDED", "FAILED", "CANCELLED"]);

export interface SweepBackend {
  /** Parses, validates and plans a sweep file (`source` names it in messages), then starts it. */
  /** `fresh`: a new sweep even when the same text was submitted with other model contents */
  /** `existing`: the coordinator already had this sweep (the same text, the same model contents) */
  submit(yaml: string, source: string, options?: { fresh?: boolean }): Promise<SweepView & { existing?: boolean }>;
  /** Throws SweepNotFoundError for an unknown id. */
  get(id: string): SweepView;
  /** Every sweep the coordinator knows, newest first. */
  list(): SweepView[];
  /**
   * Calls `onUpdate` with the current view at once (synchronously, before returning), then after
   * every change. Returns the unsubscribe function. Throws SweepNotFoundError for an unknown id.
   */
  watch(id: string, onUpdate: (view: SweepView) => void): () => void;
  /** Stops a sweep (its shards are no longer published or merged); a finished sweep is returned as is. */
  cancel(id: string): Promise<SweepView>;
  /**
   * Re-queues a sweep's quarantined shards and runs it again. Throws SweepNotFoundError,
   * SweepCancelledError (SWEEP_CANCELLED) or NothingToRerunError (NOTHING_TO_RERUN).
   */
  rerun(id: string): Promise<SweepView>;
  /** The rankings.json text from every stage merged so far; `final` once the sweep has finished. */
  rankings(id: string): { json: string; final: boolean } | Promise<{ json: string; final: boolean }>;
  /** Resolves once the result is durably stored (or recognised as a duplicate). */
  reportShard(report: ShardReport): Promise<ShardOutcome>;
  /** A terminal failure of one shard attempt. */
  reportFailure(failure: ShardFailure): Promise<void>;
}
