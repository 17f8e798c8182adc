/**
 * Removing old sweeps from a data directory: every sweep that finished (SUCCEEDED, FAILED) or was
 * cancelled longer ago than `olderThanMs`, its journal, result blobs and rankings.json together.
 * A running sweep is never removed, however old.
 *
 * Crash-safe by one atomic step: a sweep's directory is first renamed out of `<data>/sweeps/`
 * into `<data>/gc-trash/`, and only then deleted file by file. The coordinator reads only
 * `sweeps/`, so a crash at any point leaves each sweep either whole where it was, or in the
 * trash, which no coordinator reads and the next collection empties first. A partly deleted
 * sweep is never where a restarted coordinator would replay it.
 *
 * The age is counted from the journal's `sweep-finished` or `sweep-cancelled` event (read through
 * the store's readJournal, so the journal's format stays the store's business).
 */
import {
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import type { Logger } from "../core/index.ts";
import { StoreError } from "./errors.ts";
import { readJournal } from "./store.ts";

/** Where a data directory keeps its sweeps (coordinator.ts), and where collection puts what it removes. */
export const SWEEPS_DIR = "sweeps";
export const GC_TRASH_DIR = "gc-trash";

export interface CollectOptions {
  /** the coordinator's data directory (required) */
  dataDir: string;
  /** remove sweeps that ended at least this long ago (ms, >= 0) */
  olderThanMs: number;
  /** say what would be removed, remove nothing (default false) */
  dryRun?: boolean;
  /** ms since the epoch (default Date.now) */
  now?: () => number;
  /** a sweep this returns false for is kept, whatever its age (a running coordinator's veto; default: none) */
  mayRemove?: (sweepId: string) => boolean;
}

export interface CollectedSweep {
  sweepId: string;
  state: "SUCCEEDED" | "FAILED" | "CANCELLED";
  /** when it finished or was cancelled (ISO) */
  endedAt: string;
  /** bytes its directory held */
  bytes: number;
}

export interface CollectResult {
  /** removed (or, in a dry run, to be removed), oldest first */
  removed: CollectedSweep[];
  /** sweeps left, with why: running, recent, vetoed, or unreadable */
  kept: Array<{ sweepId: string; why: string }>;
  /** directories a crashed collection left in the trash, emptied now (none in a dry run) */
  leftovers: number;
}

export function collectSweeps(o: CollectOptions): CollectResult {
  if (!(Number.isSafeInteger(o.olderThanMs) && o.olderThanMs >= 0))
    throw new RangeError(`olderThanMs must be an integer number of ms >= 0, got ${o.olderThanMs}`);
  const now = (o.now ?? Date.now)();
  const root = join(o.dataDir, SWEEPS_DIR);
  const trash = join(o.dataDir, GC_TRASH_DIR);
  const leftovers = o.dryRun ? 0 : emptyTrash(trash);
  const removed: CollectedSweep[] = [];
  const kept: CollectResult["kept"] = [];
  const names = existsSync(root) ? readdirSync(root).sort() : [];
  for (const sweepId of names) {
    const dir = join(root, sweepId);
    let end: { state: CollectedSweep["state"]; at: string } | null;
    try {
      end = endOf(dir);
    } catch (err) {
      // a journal a coordinator could not replay either: left for a person to look at
      kept.push({ sweepId, why: `unreadable (${(err as Error).message})` });
      continue;
    }
    if (end === null) kept.push({ sweepId, why: "running" });
    else if (now - Date.parse(end.at) < o.olderThanMs) kept.push({ sweepId, why: `recent (ended ${end.at})` });
    else if (o.mayRemove && !o.mayRemove(sweepId)) kept.push({ sweepId, why: "in use" });
    else removed.push({ sweepId, state: end.state, endedAt: end.at, bytes: sizeOf(dir) });
  }
  removed.sort((a, b) => a.endedAt.localeCompare(b.endedAt) || a.sweepId.localeCompare(b.sweepId));
  if (!o.dryRun)
    for (const s of removed) {
      moveToTrash(root, trash, s.sweepId);
      rmSync(join(trash, s.sweepId), { recursive: true, force: true });
    }
  return { removed, kept, leftovers };
}

/** How the sweep ended, from its journal; null while it runs (or has no journal yet). */
function endOf(dir: string): { state: CollectedSweep["state"]; at: string } | null {
  let end: { state: CollectedSweep["state"]; at: string } | null = null;
  for (const e of readJournal(dir)) {
    if (e.type === "sweep-finished") end = { state: e.state, at: e.at };
    else if (e.type === "sweep-cancelled") end = { state: "CANCELLED", at: e.at };
    else if (e.type === "shards-requeued") end = null; // `cna rerun --failed`: running again
  }
  return end;
}

/** The atomic step: after the rename (and the directories' fsync) the sweep is gone from sweeps/. */
function moveToTrash(root: string, trash: string, sweepId: string): void {
  try {
    mkdirSync(trash, { recursive: true });
    renameSync(join(root, sweepId), join(trash, sweepId));
    fsyncDir(root);
    fsyncDir(trash);
  } catch (err) {
    throw new StoreError(
      join(root, sweepId),
      `cannot move sweep ${sweepId} out of ${root}: ${(err as Error).message}`,
      err,
    );
  }
}

function emptyTrash(trash: string): number {
  if (!existsSync(trash)) return 0;
  const names = readdirSync(trash);
  for (const n of names) rmSync(join(trash, n), { recursive: true, force: true });
  return names.length;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function sizeOf(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, name) => n + sizeOf(join(path, name)), 0);
}

/**
 * A coordinator's retention: collects at once, then every quarter of `retentionMs` (at most an
 * hour apart), so a sweep outlives it by little. `mayRemove` lets the coordinator forget the sweep
 * (and refuse a running one) before its directory goes; each removal and failure is logged.
 */
export function startRetention(o: {
  dataDir: string;
  retentionMs: number;
  mayRemove: (sweepId: string) => boolean;
  log: Logger;
}): { stop(): void } {
  const collect = () => {
    try {
      const r = collectSweeps({ dataDir: o.dataDir, olderThanMs: o.retentionMs, mayRemove: o.mayRemove });
      for (const s of r.removed)
        o.log.info("sweep removed (retention)", {
          sweep: s.sweepId,
          state: s.state,
          endedAt: s.endedAt,
          bytes: s.bytes,
        });
    } catch (err) {
      o.log.error("sweep retention failed", { reason: err instanceof Error ? err.message : String(err) });
    }
  };
  collect();
  const timer = setInterval(collect, Math.max(1_000, Math.min(o.retentionMs / 4, 3_600_000)));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
