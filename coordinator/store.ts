/**
 * The coordinator's state is a directory (docs/architecture.md decision 6): an append-only journal of
 * events plus one result blob per shard. A blob goes to a temp file, is fsynced and renamed
 * into place, and the directory is fsynced before `putResult` resolves, so a crash leaves the
 * result stored or absent, never half of it. A restarted coordinator replays the journal and
 * finds every stored result.
 *
 *   <dir>/journal.jsonl          one JSON event per line
 *   <dir>/results/<shard>.json   the shard's partial result, as reported
 *
 * Two kinds of journal line. `append` is for the events a restart replays (a sweep submitted,
 * cancelled or finished, a shard failed, quarantined or re-queued): each is fsynced before it returns.
 * `note` is for the per-shard record (published, stored, duplicate): the notes of one turn of the
 * event loop are written together at its end (or before an `append`, to keep the order), and
 * fsynced with the next `append`. The results directory, not the journal, says what is stored,
 * so a crash that drops the last notes loses no result.
 *
 * Group commit: blobs are written on one storage thread (blob-writer.ts), and one directory
 * fsync covers the renames of every blob that queued while it was busy, so the cost of
 * durability is shared by the shards reported together, and none of it is paid on the event loop.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { writeDurably } from "./blob-writer.ts";
import { StoreError, storeWriteError } from "./errors.ts";

/**
 * The store's writes, replaceable in tests to make the disk fail (ENOSPC) at a chosen write:
 * `writeBlob` puts a whole blob in place durably, `writeJournal` is one write(2) on the journal
 * and returns the bytes written (possibly fewer than given, as on a disk that fills up).
 */
export interface StoreWrites {
  writeBlob(path: string, bytes: Uint8Array): Promise<void>;
  writeJournal(fd: number, bytes: Uint8Array): number;
}

const DISK: StoreWrites = { writeBlob: writeDurably, writeJournal: (fd, bytes) => writeSync(fd, bytes) };

export type JournalEvent =
  /** `fileKey` identifies the submitted text on this coordinator, whatever the models' digests */
  | { type: "sweep-submitted"; sweepId: string; at: string; spec: unknown; source: string; fileKey?: string }
  | { type: "shard-published"; sweepId: string; shardId: string; at: string; task: unknown }
  | {
      type: "shard-stored";
      sweepId: string;
      shardId: string;
      at: string;
      digest: string;
      worker: string;
      attempt: number;
    }
  | {
      type: "shard-duplicate";
      sweepId: string;
      shardId: string;
      at: string;
      digest: string;
      matches: boolean;
      worker: string;
    }
  | {
      type: "shard-failed";
      sweepId: string;
      shardId: string;
      at: string;
      code: string;
      message: string;
      retryable: boolean;
      worker: string;
    }
  | { type: "shard-quarantined"; sweepId: string; shardId: string; at: string; reason: string }
  /** the in-process queue delivered it (its `delivery`-th delivery in that life of the queue) */
  | { type: "shard-delivered"; sweepId: string; shardId: string; at: string; delivery: number }
  /** its stored blob failed its digest (or did not decode): set aside; published again as its `republish`-th */
  | { type: "shard-corrupt"; sweepId: string; shardId: string; at: string; republish: number }
  /** `cna rerun --failed`: these quarantined shards are pending again, each published as its `republish`-th */
  | { type: "shards-requeued"; sweepId: string; at: string; shards: Array<{ shardId: string; republish: number }> }
  | { type: "sweep-cancelled"; sweepId: string; at: string }
  | { type: "sweep-finished"; sweepId: string; at: string; state: "SUCCEEDED" | "FAILED" };

export type StoreResult =
  { outcome: "stored"; digest: string } | { outcome: "duplicate"; digest: string; matches: boolean };

export const digestOf = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

export class SweepStore {
  private readonly journalPath: string;
  private readonly resultsDir: string;
  private journalFd: number | null = null;
  /** shard id → its blob being written: a second copy waits for the first, then compares */
  private readonly writing = new Map<string, Promise<void>>();
  /** notes not written yet (written by the end of this turn of the event loop) */
  private notes: string[] = [];
  /**
   * ids of the stored results: read from the results directory at open, kept up to date by
   * putResult (this store is the directory's only writer), so asking costs no file-system lookup
   * on the event loop, where a lookup waits behind the storage thread's renames and fsyncs
   */
  private readonly stored = new Set<string>();
  /** the sha256 each stored blob was written with, from the journal and putResult */
  private readonly digests = new Map<string, string>();
  /** bytes of the journal that are whole lines: a failed write is cut back to this */
  private journalBytes = 0;
  /** the last journal write failed: its notes are still owed, and no result is taken until they are written */
  private journalFailed = false;

  constructor(
    readonly dir: string,
    private readonly writes: StoreWrites = DISK,
  ) {
    this.journalPath = join(dir, "journal.jsonl");
    this.resultsDir = join(dir, "results");
  }

  /** Creates the directory if needed and returns every journal event written so far. */
  open(): JournalEvent[] {
    try {
      mkdirSync(this.resultsDir, { recursive: true });
      this.stored.clear();
      for (const name of readdirSync(this.resultsDir)) {
        if (name.endsWith(".json")) this.stored.add(name.slice(0, -".json".length));
        // a blob's temp file left by a crash before its rename: never a result
        else if (/\.json\.tmp-/.test(name)) rmSync(join(this.resultsDir, name), { force: true });
      }
      const text = existsSync(this.journalPath) ? readFileSync(this.journalPath, "utf8") : "";
      const events = parseJournal(text, this.journalPath);
      this.digests.clear();
      for (const e of events) if (e.type === "shard-stored") this.digests.set(e.shardId, e.digest);
      // Drop a torn last line so the next append starts on a line of its own.
      const whole = text.lastIndexOf("\n") + 1;
      if (whole < text.length) truncateSync(this.journalPath, Buffer.byteLength(text.slice(0, whole)));
      this.journalFd = openSync(this.journalPath, "a");
      this.journalBytes = fstatSync(this.journalFd).size;
      return events;
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(this.dir, `cannot open the data directory ${this.dir}: ${(err as Error).message}`, err);
    }
  }

  /** A replayed event: on disk (fsynced, with every note before it) when this returns. */
  append(event: JournalEvent): void {
    const fd = this.fd();
    this.notes.push(JSON.stringify(event));
    this.writeNotes();
    try {
      fsyncSync(fd);
    } catch (err) {
      throw storeWriteError(this.dir, `cannot fsync the journal ${this.journalPath}: ${(err as Error).message}`, err);
    }
  }

  /**
   * Written now, with every note before it, but not fsynced: it survives the process being
   * killed (the kernel has it), not the machine losing power. For a record that must be on file
   * before what follows in this turn can crash the process (a delivery, before the shard runs).
   */
  write(event: JournalEvent): void {
    this.fd();
    this.notes.push(JSON.stringify(event));
    this.writeNotes();
  }

  /** A per-shard record: written at the end of this turn of the event loop, fsynced with the next `append` (see the header). */
  note(event: JournalEvent): void {
    this.fd();
    if (this.notes.push(JSON.stringify(event)) === 1) setImmediate(() => this.writeNotesLater());
  }

  /**
   * The end-of-turn write of the notes. Its failure is not thrown here, where nothing could
   * answer it (it would end the process): the notes stay owed and the next write — a result
   * reported, an event appended — tries them again and fails with the error, so the disk being
   * full is answered to whoever asks next.
   */
  private writeNotesLater(): void {
    try {
      this.writeNotes();
    } catch {
      // journalFailed is set; the next writer surfaces the error
    }
  }

  /**
   * Stores a shard's result durably unless one is already stored: the first copy wins and a
   * later one is only compared by digest (a mismatch means the engine was not deterministic).
   * Resolves once the blob and its directory entry are on disk.
   */
  async putResult(shardId: string, bytes: Uint8Array): Promise<StoreResult> {
    const path = this.resultPath(shardId);
    const digest = digestOf(bytes);
    // a journal that could not be written (a full disk) is written first: no result is taken
    // while the record of the ones before it is owed
    if (this.journalFailed) this.writeNotes();
    for (let first = this.writing.get(shardId); first; first = this.writing.get(shardId))
      await first.catch(() => undefined);
    if (this.stored.has(shardId))
      return { outcome: "duplicate", digest, matches: digestOf(readFileSync(path)) === digest };
    const writing = this.writes.writeBlob(path, bytes); // on the storage thread, grouped with other blobs
    this.writing.set(shardId, writing);
    try {
      await writing;
      this.stored.add(shardId);
      this.digests.set(shardId, digest);
    } catch (err) {
      throw storeWriteError(
        this.dir,
        `cannot store the result of shard ${shardId} in ${this.resultsDir}: ${(err as Error).message}`,
        err,
      );
    } finally {
      this.writing.delete(shardId);
    }
    return { outcome: "stored", digest };
  }

  hasResult(shardId: string): boolean {
    return this.stored.has(shardId);
  }

  /**
   * A stored result, checked against the digest it was stored with: a blob whose bytes changed
   * on disk is moved aside (results/corrupt/) and forgotten, and the answer is null, so its shard
   * can be computed again. A blob whose digest the journal lost (a crash before the note) is
   * returned as it is; decoding it is the check left.
   */
  getResult(shardId: string): Uint8Array | null {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(this.resultPath(shardId));
    } catch (err) {
      throw new StoreError(this.dir, `result of shard ${shardId} is missing from ${this.resultsDir}`, err);
    }
    const expected = this.digests.get(shardId);
    if (expected === undefined || digestOf(bytes) === expected) return bytes;
    this.setAside(shardId);
    return null;
  }

  /** Moves a bad blob to results/corrupt/ (kept for inspection) and forgets it. */
  setAside(shardId: string): string {
    const dir = join(this.resultsDir, "corrupt");
    const to = join(dir, `${shardId}.${Date.now()}.json`);
    try {
      mkdirSync(dir, { recursive: true });
      renameSync(this.resultPath(shardId), to);
    } catch (err) {
      throw new StoreError(
        this.dir,
        `cannot move the corrupt result of shard ${shardId} aside: ${(err as Error).message}`,
        err,
      );
    }
    this.stored.delete(shardId);
    this.digests.delete(shardId);
    return to;
  }

  close(): void {
    if (this.journalFd !== null) {
      this.writeNotes();
      fsyncSync(this.journalFd);
      closeSync(this.journalFd);
    }
    this.journalFd = null;
  }

  private fd(): number {
    if (this.journalFd === null) throw new StoreError(this.dir, "store used before open()");
    return this.journalFd;
  }

  /**
   * Writes the owed notes as whole lines, or none of them: a write cut short (a full disk) is
   * cut back to the last whole line and the notes stay owed, so the journal never holds a torn
   * line that later lines would follow (a restart reads that as corruption).
   */
  private writeNotes(): void {
    const fd = this.journalFd;
    if (this.notes.length === 0 || fd === null) return;
    const bytes = Buffer.from(`${this.notes.join("\n")}\n`);
    let done = 0;
    try {
      if (this.journalFailed) ftruncateSync(fd, this.journalBytes); // a torn tail a failed cut left
      while (done < bytes.length) {
        const n = this.writes.writeJournal(fd, bytes.subarray(done));
        if (n <= 0) throw new Error("ENOSPC: no space left on device, write"); // classed by its message
        done += n;
      }
    } catch (err) {
      this.journalFailed = true;
      try {
        if (done > 0) ftruncateSync(fd, this.journalBytes);
      } catch {
        // the torn tail stays; the next open drops a torn last line, and the next write here cuts again
      }
      throw storeWriteError(this.dir, `cannot write the journal ${this.journalPath}: ${(err as Error).message}`, err);
    }
    this.journalBytes += bytes.length;
    this.notes = [];
    this.journalFailed = false;
  }

  private resultPath(shardId: string): string {
    if (!/^[a-z0-9-]{1,128}$/.test(shardId))
      throw new StoreError(this.dir, `invalid shard id ${JSON.stringify(shardId)}`);
    return join(this.resultsDir, `${shardId}.json`);
  }
}

/** The events of a store's journal, read without opening the store (none when it has no journal). */
export function readJournal(dir: string): JournalEvent[] {
  const path = join(dir, "journal.jsonl");
  return existsSync(path) ? parseJournal(readFileSync(path, "utf8"), path) : [];
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
