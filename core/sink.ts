/**
 * The result seam: where a worker sends a finished shard (the coordinator's ingestion, directly
 * in embedded runs, over gRPC ReportShard in distributed ones). A worker acks the shard's queue
 * message only after `report` resolved, i.e. after the coordinator stored the result durably.
 */
import type { AnyPartial } from "./partials.ts";

export interface ShardReport {
  sweepId: string;
  shardId: string;
  worker: string;
  /** the queue's delivery count for this attempt */
  attempt: number;
  /** the partial result, JSON-encoded (the bytes whose digest detects non-determinism) */
  result: Uint8Array;
  /** milliseconds the worker spent computing it, when measured (metrics only: never merged) */
  runMs?: number;
}

export interface ShardFailure {
  sweepId: string;
  shardId: string;
  worker: string;
  attempt: number;
  code: string;
  message: string;
  retryable: boolean;
}

export interface ResultSink {
  report(r: ShardReport): Promise<void>;
  fail(f: ShardFailure): Promise<void>;
  /**
   * Whether the coordinator behind this sink runs the sweep. A worker asks before it runs a
   * shard of a sweep it has not seen: a shard its coordinator does not know reached it by
   * mistake and is handed back unrun. Absent: every sweep is known (the in-process sink, whose
   * queue only its own coordinator fills).
   */
  knows?(sweepId: string): Promise<boolean>;
}

export const encodePartial = (p: AnyPartial): Uint8Array => new TextEncoder().encode(JSON.stringify(p));
export const decodePartial = (bytes: Uint8Array): AnyPartial =>
  JSON.parse(new TextDecoder().decode(bytes)) as AnyPartial;
