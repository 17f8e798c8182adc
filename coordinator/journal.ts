/**
 * A sweep's journal on disk, and its compaction. The journal (`journal.jsonl`) is append-only;
 * left alone it grows with every publish, delivery, store and duplicate, without bound over a
 * long sweep. Compaction keeps it in proportion to what a restart needs: a snapshot
 * (`journal.snapshot.jsonl`) holds the events replay reads (see RetainedEvents), and the journal
 * starts again, empty, after it.
 *
 * Both files open with a marker line naming an epoch; the markers are not events and are never
 * returned. Compacting to epoch n:
 *   1. the snapshot of epoch n goes to a temp file, is fsynced and renamed over the old one
 *      (the directory fsynced): from here on the old journal is covered by the snapshot;
 *   2. a journal holding only the marker of epoch n replaces the old one the same way.
 * A crash before 1's rename leaves the old snapshot and the old journal (epochs equal): read
 * both. A crash between 1 and 2 leaves the new snapshot and the old journal (journal epoch
 * lower): the snapshot alone is the state, and opening finishes step 2. Temp files are removed
 * at open. A journal without a marker is epoch 0, as is a directory without a snapshot.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { StoreError } from "./errors.ts";

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

export const JOURNAL_FILE = "journal.jsonl";
export const SNAPSHOT_FILE = "journal.snapshot.jsonl";
const MARKER = "journal-epoch";

/** A compaction is due once the journal holds this many bytes and at least as many as the snapshot (default). */
export const DEFAULT_COMPACT_JOURNAL_BYTES = 16 * 1024 * 1024;

export interface LoadedJournal {
  events: JournalEvent[];
  /** the snapshot's epoch (0: none) */
  epoch: number;
  /** bytes of the whole lines of the journal file (the torn last line, if any, excluded) */
  journalBytes: number;
  /** the journal file's length on disk, torn line included */
  journalFileBytes: number;
  snapshotBytes: number;
  /** the journal is older than the snapshot (a crash inside a compaction): it must be replaced */
  journalStale: boolean;
}

/** Reads the snapshot and the journal of a sweep directory (nothing is written). */
export function loadJournal(dir: string): LoadedJournal {
  const snapshotPath = join(dir, SNAPSHOT_FILE);
  const journalPath = join(dir, JOURNAL_FILE);
  const snapshotText = existsSync(snapshotPath) ? readFileSync(snapshotPath, "utf8") : "";
  const snapshot = parseLines(snapshotText, snapshotPath, false);
  const journalText = existsSync(journalPath) ? readFileSync(journalPath, "utf8") : "";
  const journal = parseLines(journalText, journalPath, true);
  if (journal.epoch > snapshot.epoch)
    throw new StoreError(
      dir,
      `${journalPath} is of epoch ${journal.epoch} but ${snapshotPath} of epoch ${snapshot.epoch}: the snapshot it follows is missing`,
    );
  const journalStale = journal.epoch < snapshot.epoch;
  const whole = journalText.lastIndexOf("\n") + 1;
  return {
    events: journalStale ? snapshot.events : [...snapshot.events, ...journal.events],
    epoch: snapshot.epoch,
    journalBytes: Buffer.byteLength(journalText.slice(0, whole)),
    journalFileBytes: Buffer.byteLength(journalText),
    snapshotBytes: Buffer.byteLength(snapshotText),
    journalStale,
  };
}

/** Removes the temp files a crash inside a compaction can leave. */
export function removeJournalTemps(dir: string): void {
  for (const name of readdirSync(dir))
    if (name.startsWith(`${SNAPSHOT_FILE}.tmp-`) || name.startsWith(`${JOURNAL_FILE}.tmp-`))
      rmSync(join(dir, name), { force: true });
}

/** Step 1 of a compaction: the snapshot of `epoch`, durably in place. Returns its size in bytes. */
export function writeSnapshot(dir: string, epoch: number, events: readonly JournalEvent[]): number {
  const text = [markerLine(epoch), ...events.map((e) => JSON.stringify(e))].join("\n") + "\n";
  replaceDurably(dir, SNAPSHOT_FILE, text);
  return Buffer.byteLength(text);
}

/** Step 2 of a compaction: an empty journal of `epoch`, durably in place. Returns its size in bytes. */
export function resetJournal(dir: string, epoch: number): number {
  const text = `${markerLine(epoch)}\n`;
  replaceDurably(dir, JOURNAL_FILE, text);
  return Buffer.byteLength(text);
}

const markerLine = (epoch: number): string => JSON.stringify({ type: MARKER, epoch });

/** Temp file, fsync, rename over `name`, directory fsync: `name` is the old text or the new, never half. */
function replaceDurably(dir: string, name: string, text: string): void {
  const path = join(dir, name);
  const tmp = `${path}.tmp-${process.pid}`;
  let fd = openSync(tmp, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * A journal's lines: a crash can leave a torn last line (dropped when `tornTail` allows it); a
 * torn line elsewhere is corruption. A marker line gives the epoch.
 */
function parseLines(text: string, path: string, tornTail: boolean): { events: JournalEvent[]; epoch: number } {
  const lines = text.split("\n");
  const events: JournalEvent[] = [];
  let epoch = 0;
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      const last = lines.slice(i + 1).every((l) => l.trim() === "");
      if (!tornTail || !last) throw new StoreError(path, `${path}:${i + 1}: corrupt journal line`, err);
      return;
    }
    const marker = parsed as { type?: unknown; epoch?: unknown };
    if (marker.type === MARKER && typeof marker.epoch === "number") epoch = marker.epoch;
    else events.push(parsed as JournalEvent);
  });
  return { events, epoch };
}

/**
 * What a snapshot keeps: the events a restart replays (see replayJournal and SweepStore.open),
 * each shard's stored digest, and the deliveries of shards with no result yet. Per-shard history
 * that replay does not read (published, duplicate; who stored a shard and when) is not kept past
 * a compaction. Its size grows with the shards stored, not with the events journalled.
 */
export class RetainedEvents {
  /** sweep-level events and failures, in order (few) */
  private readonly kept: JournalEvent[] = [];
  /** the latest shard-corrupt event of each shard */
  private readonly corrupt = new Map<string, JournalEvent>();
  /** deliveries of each shard since its current message (cleared by shard-corrupt) */
  private readonly delivered = new Map<string, JournalEvent[]>();
  private sweepId = "";

  observe(e: JournalEvent): void {
    this.sweepId ||= e.sweepId;
    switch (e.type) {
      case "shard-published":
      case "shard-duplicate":
      case "shard-stored": // the digests come from the store's own map, which setAside keeps true
        return;
      case "shard-delivered": {
        const list = this.delivered.get(e.shardId);
        if (list) list.push(e);
        else this.delivered.set(e.shardId, [e]);
        return;
      }
      case "shard-corrupt":
        this.corrupt.set(e.shardId, e);
        this.delivered.delete(e.shardId);
        return;
      case "shards-requeued":
        // a re-queue starts each shard's message and delivery count afresh, like a corrupt mark
        for (const q of e.shards) {
          this.corrupt.delete(q.shardId);
          this.delivered.delete(q.shardId);
        }
        this.kept.push(e);
        return;
      default:
        this.kept.push(e);
    }
  }

  /** The snapshot's events: kept ones in order, then corrupt marks, deliveries of unstored shards, stored digests. */
  events(digests: ReadonlyMap<string, string>, at: string): JournalEvent[] {
    const out = [...this.kept, ...this.corrupt.values()];
    for (const [shardId, list] of this.delivered) if (!digests.has(shardId)) out.push(...list);
    for (const [shardId, digest] of digests)
      out.push({ type: "shard-stored", sweepId: this.sweepId, shardId, at, digest, worker: "", attempt: 0 });
    return out;
  }
}
