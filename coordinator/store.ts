/**
 * The coordinator's state is a directory (DESIGN.md decision 6): an append-only journal of
 * events plus one result blob per shard. Every write goes to a temp file, is fsynced and renamed
 * into place, so a crash leaves either the old file or the new one, never half of one. A
 * restarted coordinator replays the journal and finds every stored result.
 *
 *   <dir>/journal.jsonl          one JSON event per line, fsynced after each append
 *   <dir>/results/<shard>.json   the shard's partial result, as reported
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { StoreError } from "./errors.ts";

export type JournalEvent =
  | { type: "sweep-submitted"; sweepId: string; at: string; spec: unknown; source: string }
  | { type: "shard-published"; sweepId: string; shardId: string; at: string; task: unknown }
  | { type: "shard-stored"; sweepId: string; shardId: string; at: string; digest: string; worker: string; attempt: number }
  | { type: "shard-duplicate"; sweepId: string; shardId: string; at: string; digest: string; matches: boolean; worker: string }
  | { type: "shard-failed"; sweepId: string; shardId: string; at: string; code: string; message: string; retryable: boolean; worker: string }
  | { type: "shard-quarantined"; sweepId: string; shardId: string; at: string; reason: string }
  | { type: "sweep-cancelled"; sweepId: string; at: string }
  | { type: "sweep-finished"; sweepId: string; at: string; state: "SUCCEEDED" | "FAILED" };

export type StoreResult =
  | { outcome: "stored"; digest: string }
  | { outcome: "duplicate"; digest: string; matches: boolean };

export const digestOf = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

export class SweepStore {
  private readonly journalPath: string;
  private readonly resultsDir: string;
  private journalFd: number | null = null;

  constructor(readonly dir: string) {
    this.journalPath = join(dir, "journal.jsonl");
    this.resultsDir = join(dir, "results");
  }

  /** Creates the directory if needed and returns every journal event written so far. */
  open(): JournalEvent[] {
    try {
      mkdirSync(this.resultsDir, { recursive: true });
      const text = existsSync(this.journalPath) ? readFileSync(this.journalPath, "utf8") : "";
      const events = parseJournal(text, this.journalPath);
      // Drop a torn last line so the next append starts on a line of its own.
      const whole = text.lastIndexOf("\n") + 1;
      if (whole < text.length) truncateSync(this.journalPath, Buffer.byteLength(text.slice(0, whole)));
      this.journalFd = openSync(this.journalPath, "a");
      return events;
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(this.dir, `cannot open the data directory ${this.dir}: ${(err as Error).message}`, err);
    }
  }

  append(event: JournalEvent): void {
    if (this.journalFd === null) throw new StoreError(this.dir, "store used before open()");
    writeSync(this.journalFd, `${JSON.stringify(event)}\n`);
    fsyncSync(this.journalFd);
  }

  /**
   * Stores a shard's result durably unless one is already stored: the first copy wins and a
   * later one is only compared by digest (a mismatch means the engine was not deterministic).
   */
  putResult(shardId: string, bytes: Uint8Array): StoreResult {
    const digest = digestOf(bytes);
    const path = this.resultPath(shardId);
    if (existsSync(path)) return { outcome: "duplicate", digest, matches: digestOf(readFileSync(path)) === digest };
    writeAtomic(path, bytes);
    return { outcome: "stored", digest };
  }

  hasResult(shardId: string): boolean {
    return existsSync(this.resultPath(shardId));
  }

  getResult(shardId: string): Uint8Array {
    try {
      return readFileSync(this.resultPath(shardId));
    } catch (err) {
      throw new StoreError(this.dir, `result of shard ${shardId} is missing from ${this.resultsDir}`, err);
    }
  }

  close(): void {
    if (this.journalFd !== null) closeSync(this.journalFd);
    this.journalFd = null;
  }

  private resultPath(shardId: string): string {
    if (!/^[a-z0-9-]{1,128}$/.test(shardId)) throw new StoreError(this.dir, `invalid shard id ${JSON.stringify(shardId)}`);
    return join(this.resultsDir, `${shardId}.json`);
  }
}

/** temp file in the same directory, fsync, rename, fsync the directory. */
export function writeAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, typeof bytes === "string" ? Buffer.from(bytes) : bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(join(path, ".."), "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** A crash can leave a torn last line; it is dropped. A torn line elsewhere is corruption. */
function parseJournal(text: string, path: string): JournalEvent[] {
  const lines = text.split("\n");
  const events: JournalEvent[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      events.push(JSON.parse(line) as JournalEvent);
    } catch (err) {
      const last = lines.slice(i + 1).every((l) => l.trim() === "");
      if (!last) throw new StoreError(path, `${path}:${i + 1}: corrupt journal line`, err);
    }
  });
  return events;
}
