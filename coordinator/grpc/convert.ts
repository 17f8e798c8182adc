/**
 * The SweepService edge: generated wire messages in, domain values out (validated, with errors
 * that name the proto field), and domain views back to wire messages. Nothing past this file
 * sees a generated type.
 */
import type { ShardFailure, ShardStage } from "../../core/index.ts";
import { BadRequestError, ReportOutcome, Stage, SweepState as WireSweepState } from "../../proto/index.ts";
import type { ShardFailure as ShardFailureMessage, Sweep } from "../../proto/index.ts";
import type { SweepState } from "../sweep.ts";
import type { ShardOutcome, SweepView } from "../backend.ts";

const STATE: Record<SweepState, WireSweepState> = {
  RUNNING: WireSweepState.SWEEP_STATE_RUNNING,
  SUCCEEDED: WireSweepState.SWEEP_STATE_SUCCEEDED,
  FAILED: WireSweepState.SWEEP_STATE_FAILED,
  CANCELLED: WireSweepState.SWEEP_STATE_CANCELLED,
};

const STAGE: Record<ShardStage, Stage> = {
  "head-ablation": Stage.STAGE_HEAD_ABLATION,
  attribution: Stage.STAGE_ATTRIBUTION,
  cna: Stage.STAGE_CNA,
  verify: Stage.STAGE_VERIFY,
  "top-tokens": Stage.STAGE_TOP_TOKENS,
};

const OUTCOME: Record<ShardOutcome, ReportOutcome> = {
  stored: ReportOutcome.REPORT_OUTCOME_STORED,
  duplicate: ReportOutcome.REPORT_OUTCOME_DUPLICATE,
  "duplicate-mismatch": ReportOutcome.REPORT_OUTCOME_DUPLICATE_MISMATCH,
  discarded: ReportOutcome.REPORT_OUTCOME_DISCARDED,
};

export function toSweepMessage(v: SweepView): Sweep {
  return {
    id: v.sweepId,
    name: v.name,
    state: STATE[v.state],
    stages: v.stages.map((s) => ({
      stage: STAGE[s.stage],
      total: s.total,
      expected: s.expected,
      stored: s.stored,
      quarantined: s.quarantined,
    })),
    cells: v.cells,
    cellsDone: v.cellsDone,
    cellsFailed: v.cellsFailed,
    duplicates: v.duplicates,
    nondeterministic: v.nondeterministic,
    redeliveries: v.redeliveries,
    quarantined: v.quarantined.map((q) => ({
      shardId: q.shardId,
      cell: q.cell,
      stage: STAGE[q.stage],
      reason: q.reason,
    })),
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
    etaSeconds: v.etaSeconds ?? undefined,
    casesPerSecond: v.casesPerSecond,
    existing: false,
  };
}

export const toOutcomeMessage = (o: ShardOutcome): ReportOutcome => OUTCOME[o];

/** A required string field: present and not blank. */
export function requireText(field: string, value: string): string {
  if (value.trim() === "") throw new BadRequestError(field, "must not be empty");
  return value;
}

/** A delivery count: 1 for the first attempt. */
export function requireAttempt(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new BadRequestError(field, `must be 1 or more (the queue's delivery count), got ${value}`);
  return value;
}

export function fromShardFailureMessage(m: ShardFailureMessage): ShardFailure {
  return {
    sweepId: requireText("sweep_id", m.sweepId),
    shardId: requireText("shard_id", m.shardId),
    worker: requireText("worker", m.worker),
    attempt: requireAttempt("attempt", m.attempt),
    code: requireText("code", m.code),
    message: m.message,
    retryable: m.retryable,
  };
}
