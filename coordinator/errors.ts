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

/**
 * The data directory cannot be used: it cannot be created, or written (a file in the way, no
 * permission, a read-only file system). Terminal: the coordinator refuses to start until the
 * directory is fixed or another one is given.
 */
export class DataDirError extends CnaError {
  constructor(
    readonly path: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { code: "DATA_DIR_UNWRITABLE", retryable: false, cause });
  }
}

/**
 * The data directory's file system is full (ENOSPC) or over its quota (EDQUOT). Nothing half
 * written is kept (blobs are renamed into place only when whole; a torn journal write is cut
 * back). Retryable: a worker's report is refused and comes again once space has been freed.
 */
export class DiskFullError extends CnaError {
  constructor(
    readonly path: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { code: "DISK_FULL", retryable: true, cause });
  }
}

const FULL = /\b(ENOSPC|EDQUOT)\b/;
const UNWRITABLE = /\b(ENOTDIR|EACCES|EPERM|EROFS|EEXIST|EISDIR|ENOENT)\b/;

/** The system error code of `err` (`ENOSPC`), from its `code` or, across the storage thread, its message. */
function systemCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
  const m = (err instanceof Error ? err.message : String(err)).match(/\bE[A-Z]{3,}\b/);
  return m ? m[0] : "";
}

/** A failed write of the store: DISK_FULL when the file system is full, STORE_FAILED otherwise. */
export function storeWriteError(path: string, message: string, err: unknown): CnaError {
  return FULL.test(systemCode(err))
    ? new DiskFullError(path, `${message} (the disk is full: free space, then the work is reported again)`, err)
    : new StoreError(path, message, err);
}

/** A failure to prepare the data directory at start: DISK_FULL, DATA_DIR_UNWRITABLE, or STORE_FAILED. */
export function dataDirError(path: string, message: string, err: unknown): CnaError {
  const code = systemCode(err);
  if (FULL.test(code)) return new DiskFullError(path, `${message} (the disk is full)`, err);
  if (UNWRITABLE.test(code)) return new DataDirError(path, message, err);
  return new StoreError(path, message, err);
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
