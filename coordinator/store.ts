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
 * cancelled or finished, a shard failed or quarantined): each is fsynced before it returns.
 * `note` is for the per-shard record (published, stored, duplicate): the notes of one turn of the
 * event loop are written together at its end (or before an `append`, to keep the order), and
 * fsynced with the next `append`. The results directory, not the journal, says what is stored,
 * so a crash that drops the last notes loses no result.
 *
 * Group commit: blobs are written on one storage thread (blob-writer.ts), and one directory
 * fsync covers the renames of every blob that queued while it was busy, so the cost of
 * durability is shared by the shards reported together, and none of it is paid on the event loop.
 *
 * Compaction (journal.ts): once the journal outgrows both `compactJournalBytes` and the last
 * snapshot, what a restart needs is written to `journal.snapshot.jsonl` and the journal starts
 * again, so the files stay in proportion to the shards stored, not to the events journalled.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
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
import {
  DEFAULT_COMPACT_JOURNAL_BYTES,
  JOURNAL_FILE,
  RetainedEvents,
  loadJournal,
  removeJournalTemps,
  resetJournal,
  writeSnapshot,
} from "./journal.ts";
import type { JournalEvent } from "./journal.ts";

export type { JournalEvent };

export type StoreResult =
  { outcome: "stored"; digest: string } | { outcome: "duplicate"; digest: string; matches: boolean };

export const digestOf = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

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

export interface SweepStoreOptions {
  /** the disk's writes (default: the real ones); tests make them fail */
  writes?: StoreWrites;
  /**
   * the journal is compacted once it holds this many bytes and at least as many as the last
   * snapshot (default DEFAULT_COMPACT_JOURNAL_BYTES, 16 MiB), so compaction costs stay
   * proportional to the journal's growth
   */
  compactJournalBytes?: number;
}

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
  /** what a compaction's snapshot keeps, from every event journalled */
  private retained = new RetainedEvents();
  private epoch = 0;
  private journalBytes = 0;
  private snapshotBytes = 0;
  /** after a failed compaction, the journal size at which it is tried again */
  private retryCompactionAt = 0;
  /** a compaction wrote its snapshot but could not start the new journal yet (fd() does it) */
  private journalStale = false;
  private readonly compactJournalBytes: number;
  /** the last journal write failed: its notes are still owed, and no result is taken until they are written */
  private journalFailed = false;
  private readonly writes: StoreWrites;

  constructor(
    readonly dir: string,
    options: SweepStoreOptions = {},
  ) {
    this.journalPath = join(dir, JOURNAL_FILE);
    this.resultsDir = join(dir, "results");
    const bytes = options.compactJournalBytes ?? DEFAULT_COMPACT_JOURNAL_BYTES;
    if (!Number.isInteger(bytes) || bytes < 1)
      throw new StoreError(dir, `compactJournalBytes must be a positive integer, got ${String(bytes)}`);
    this.compactJournalBytes = bytes;
    this.writes = options.writes ?? DISK;
  }

  /** How many times this directory's journal has been compacted (0: never). */
  get journalEpoch(): number {
    return this.epoch;
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
      removeJournalTemps(this.dir);
      const loaded = loadJournal(this.dir);
      const events = loaded.events;
      this.digests.clear();
      this.retained = new RetainedEvents();
      for (const e of events) {
        if (e.type === "shard-stored") this.digests.set(e.shardId, e.digest);
        this.retained.observe(e);
      }
      this.epoch = loaded.epoch;
      this.snapshotBytes = loaded.snapshotBytes;
      this.journalBytes = loaded.journalBytes;
      // a crash inside a compaction, after its snapshot: finish it (the old journal is covered)
      this.journalStale = false;
      if (loaded.journalStale) this.journalBytes = resetJournal(this.dir, this.epoch);
      // Drop a torn last line so the next append starts on a line of its own.
      else if (loaded.journalBytes < loaded.journalFileBytes) truncateSync(this.journalPath, loaded.journalBytes);
      this.journalFd = openSync(this.journalPath, "a");
      return events;
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(this.dir, `cannot open the data directory ${this.dir}: ${(err as Error).message}`, err);
    }
  }

  /** A replayed event: on disk (fsynced, with every note before it) when this returns. */
  append(event: JournalEvent): void {
    const fd = this.fd();
    this.record(event);
    this.flushNotes();
    try {
      fsyncSync(fd);
    } catch (err) {
      throw storeWriteError(this.dir, `cannot fsync the journal ${this.journalPath}: ${(err as Error).message}`, err);
    }
    this.compactIfDue(); // the event is on disk whatever becomes of the compaction
  }

  /**
   * Written now, with every note before it, but not fsynced: it survives the process being
   * killed (the kernel has it), not the machine losing power. For a record that must be on file
   * before what follows in this turn can crash the process (a delivery, before the shard runs).
   */
  write(event: JournalEvent): void {
    this.fd();
    this.record(event);
    this.writeNotes();
  }

  /** A per-shard record: written at the end of this turn of the event loop, fsynced with the next `append` (see the header). */
  note(event: JournalEvent): void {
    this.fd();
    if (this.record(event) === 1) setImmediate(() => this.writeNotesLater());
  }

  /**
   * The end-of-turn write of the notes. Its failure is not thrown here, where nothing could
   * answer it (it would end the process): the notes stay owed and the next write — a result
   * reported, an event appended — tries them again and fails with the error, so the disk being
   * full is answered to whoever asks next. A compaction that fails here is tried again later
   * (compactIfDue).
   */
  private writeNotesLater(): void {
    try {
      this.writeNotes();
    } catch {
      // journalFailed (or retryCompactionAt) is set; the next writer surfaces the error
    }
  }

  /**
   * Writes what a restart needs as a snapshot and starts the journal again (journal.ts says how
   * a crash at any step stays loadable). Runs by itself when the journal has grown enough; the
   * notes not written yet are written first, so the snapshot covers every event so far.
   */
  compact(): void {
    const fd = this.fd();
    this.flushNotes();
    fsyncSync(fd);
    try {
      // a failure here leaves the old snapshot and journal, both still good: the journal stays open
      this.snapshotBytes = writeSnapshot(
        this.dir,
        this.epoch + 1,
        this.retained.events(this.digests, new Date().toISOString()),
      );
    } catch (err) {
      throw new StoreError(this.dir, `cannot compact the journal of ${this.dir}: ${(err as Error).message}`, err);
    }
    // from here the old journal is covered by the snapshot: nothing more may be appended to it
    this.epoch++;
    this.retryCompactionAt = 0;
    closeSync(fd);
    this.journalFd = null;
    this.journalStale = true;
    this.fd(); // starts the new journal (or throws, and the next write tries again)
  }

  /**
   * Stores a shard's result durably unless one is already stored: the first copy wins and a
   * later one is only compared by digest (a mismatch means the engine was not deterministic).
   * Resolves once the blob and its directory entry are on disk.
   */
  async putResult(shardId: string, bytes: Uint8Array): Promise<StoreResult> {
    const path = this.resultPath(shardId);
    const digest = digestOf(bytes);
    for (let first = this.writing.get(shardId); first; first = this.writing.get(shardId))
      await first.catch(() => undefined);
    if (this.stored.has(shardId))
      return { outcome: "duplicate", digest, matches: digestOf(readFileSync(path)) === digest };
    // a journal that could not be written (a full disk) is written first: no result is taken
    // while the record of the ones before it is owed
    if (this.journalFailed) this.writeNotes();
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
      this.flushNotes();
      fsyncSync(this.journalFd);
      closeSync(this.journalFd);
    }
    this.journalFd = null;
  }

  private fd(): number {
    if (this.journalFd === null && this.journalStale) {
      try {
        this.journalBytes = resetJournal(this.dir, this.epoch);
        this.journalFd = openSync(this.journalPath, "a");
        this.journalStale = false;
      } catch (err) {
        throw new StoreError(this.dir, `cannot start the journal of ${this.dir} again: ${(err as Error).message}`, err);
      }
    }
    if (this.journalFd === null) throw new StoreError(this.dir, "store used before open()");
    return this.journalFd;
  }

  /** Queues an event's line (and keeps what a snapshot needs of it); returns the lines queued. */
  private record(event: JournalEvent): number {
    this.retained.observe(event);
    return this.notes.push(JSON.stringify(event));
  }

  /** Writes the queued lines, then compacts when the journal has grown enough. */
  private writeNotes(): void {
    this.flushNotes();
    this.compactIfDue();
  }

  /**
   * A compaction that fails leaves the journal whole (see compact) and is tried again once the
   * journal has grown as much again; its error goes to whoever wrote (from a note, the process
   * fails, as a failed journal write does, and a restart finds a loadable state).
   */
  private compactIfDue(): void {
    const due = Math.max(this.compactJournalBytes, this.snapshotBytes, this.retryCompactionAt);
    if (this.journalFd === null || this.journalBytes < due) return;
    try {
      this.compact();
    } catch (err) {
      this.retryCompactionAt = 2 * this.journalBytes;
      throw err;
    }
  }

  /**
   * Writes the owed notes as whole lines, or none of them: a write cut short (a full disk) is
   * cut back to the last whole line and the notes stay owed, so the journal never holds a torn
   * line that later lines would follow (a restart reads that as corruption).
   */
  private flushNotes(): void {
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

/** The events of a store's journal (its snapshot's, then its own), read without opening the store. */
export function readJournal(dir: string): JournalEvent[] {
  return loadJournal(dir).events;
}
