/**
 * Coordinator errors. Each has a stable `code`; `retryable` says whether a worker reporting a
 * result should try again (a disk hiccup) or give up (a result that will never be accepted).
 */
import { CnaError } from "../core/index.ts";

/** The data directory could not be read or written. Retryable: the disk may come back. */
export class StoreError extends CnaError {
  constructor(
    readonly path: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { code: "STORE_FAILED", retryable: true, cause });
  }
}

/** A reported result does not belong to any shard of this sweep, or is malformed. */
export class BadResultError extends CnaError {
  constructor(
    readonly shardId: string,
    message: string,
  ) {
    super(message, { code: "BAD_RESULT", retryable: false });
  }
}

/** A worker names a shard the sweep does not have (ReportFailure): nothing is recorded. */
export class ShardNotFoundError extends CnaError {
  constructor(
    readonly sweepId: string,
    readonly shardId: string,
  ) {
    super(`sweep ${sweepId} has no shard ${JSON.stringify(shardId)}`, { code: "SHARD_NOT_FOUND", retryable: false });
  }
}

/** No sweep with this id. */
export class SweepNotFoundError extends CnaError {
  constructor(readonly sweepId: string) {
    super(`no sweep with id ${JSON.stringify(sweepId)}`, { code: "SWEEP_NOT_FOUND", retryable: false });
  }
}

/**
 * A rerun of a cancelled sweep. Cancelling is final: the queue was purged and workers discarded
 * their results; to run the same work again, submit the file under another `name`.
 */
export class SweepCancelledError extends CnaError {
  constructor(readonly sweepId: string) {
    super(
      `sweep ${sweepId} was cancelled, and a cancelled sweep is not run again; to run its work, submit the sweep file under another name`,
      { code: "SWEEP_CANCELLED", retryable: false },
    );
  }
}

/** A rerun of a sweep that has no quarantined shard (it succeeded, or none has failed yet). */
export class NothingToRerunError extends CnaError {
  constructor(
    readonly sweepId: string,
    readonly state: string,
  ) {
    super(`sweep ${sweepId} (${state.toLowerCase()}) has no quarantined shard to rerun`, {
      code: "NOTHING_TO_RERUN",
      retryable: false,
    });
  }
}
