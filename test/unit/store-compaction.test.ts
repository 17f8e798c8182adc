/**
 * Journal compaction: once the journal outgrows its limit, what a restart needs goes to a
 * snapshot and the journal starts again; a restart replays to the same state; and a crash at
 * each step of a compaction (simulated by putting the files of that moment in place) leaves a
 * directory that opens to that same state, with the compaction finished and nothing doubled.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SweepStore, replayJournal } from "../../coordinator/index.ts";
import type { JournalEvent } from "../../coordinator/index.ts";

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), "cna-compact-"));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const enc = (s: string) => new TextEncoder().encode(s);
const at = "2026-01-01T00:00:00.000Z";

/** What a restart reads from the events: the sweep-level ones, the replay maps, the stored digests. */
function stateOf(events: readonly JournalEvent[]) {
  const r = replayJournal(events, "sw");
  const digests = new Map<string, string>();
  for (const e of events) if (e.type === "shard-stored") digests.set(e.shardId, e.digest);
  return {
    sweep: events.filter((e) => e.type.startsWith("sweep-") || e.type === "shard-failed").map((e) => JSON.stringify(e)),
    quarantined: [...r.quarantined].sort(),
    republished: [...r.republished].sort(),
    // deliveries matter only while a shard has no result (they count toward its quarantine)
    deliveries: [...r.deliveries].filter(([id]) => !digests.has(id)).sort(),
    cancelled: r.cancelled,
    digests: [...digests].sort(),
  };
}

/** A sweep's worth of events: published, stored (with blobs), delivered, one corrupt, one quarantined, one failure. */
async function fill(store: SweepStore, shards: number): Promise<void> {
  store.append({ type: "sweep-submitted", sweepId: "sw", at, spec: { n: shards }, source: "x.yaml" });
  const ids = Array.from({ length: shards }, (_, i) => `s${i}`);
  for (const shardId of ids) {
    store.note({ type: "shard-published", sweepId: "sw", shardId, at, task: { pad: "x".repeat(200) } });
    store.write({ type: "shard-delivered", sweepId: "sw", shardId, at, delivery: 1 });
  }
  // every 7th never stored: its deliveries must survive compaction
  const stored = ids.filter((_, i) => i % 7 !== 3);
  const results = await Promise.all(stored.map((id) => store.putResult(id, enc(`{"r":${id.slice(1)}}`))));
  stored.forEach((shardId, i) =>
    store.note({
      type: "shard-stored",
      sweepId: "sw",
      shardId,
      at,
      digest: results[i]!.digest,
      worker: "w",
      attempt: 1,
    }),
  );
  store.write({ type: "shard-delivered", sweepId: "sw", shardId: "s3", at, delivery: 2 });
  store.append({ type: "shard-corrupt", sweepId: "sw", shardId: "s10", at, republish: 1 });
  store.append({
    type: "shard-failed",
    sweepId: "sw",
    shardId: "s17",
    at,
    code: "X",
    message: "m",
    retryable: false,
    worker: "w",
  });
  store.append({ type: "shard-quarantined", sweepId: "sw", shardId: "s17", at, reason: "X: m" });
  await new Promise((resolve) => setImmediate(resolve)); // the last notes written
}

describe("journal compaction", () => {
  it("compacts when the journal outgrows its limit, keeps it bounded, and replays to the same state", async () => {
    const plain = fresh();
    const compacted = fresh();
    const a = new SweepStore(plain, { compactJournalBytes: 1 << 30 });
    a.open();
    await fill(a, 300);
    a.close();
    const b = new SweepStore(compacted, { compactJournalBytes: 8 * 1024 });
    b.open();
    await fill(b, 300);
    expect(b.journalEpoch).toBeGreaterThan(1);
    b.close();
    const journalSize = statSync(join(compacted, "journal.jsonl")).size;
    const snapshotSize = statSync(join(compacted, "journal.snapshot.jsonl")).size;
    // the journal is cut back at each compaction: it stays under max(limit, snapshot) plus one turn's notes
    expect(journalSize).toBeLessThan(Math.max(8 * 1024, snapshotSize) + 4096);
    expect(journalSize + snapshotSize).toBeLessThan(statSync(join(plain, "journal.jsonl")).size / 2);

    const again = new SweepStore(compacted);
    const events = again.open();
    expect(stateOf(events)).toEqual(stateOf(new SweepStore(plain).open()));
    // digests survive compaction: a blob changed on disk is still caught
    writeFileSync(join(compacted, "results", "s20.json"), '{"r":21}');
    expect(again.getResult("s20")).toBeNull();
    expect(new TextDecoder().decode(again.getResult("s21"))).toBe('{"r":21}');
    again.close();
  });

  it("opens to the same state after a crash at each step of a compaction", async () => {
    const dir = fresh();
    const store = new SweepStore(dir, { compactJournalBytes: 1 << 30 });
    store.open();
    await fill(store, 60);
    store.compact(); // epoch 1: a snapshot already there, as after any earlier compaction
    await fill(store, 80);
    store.close();
    const expected = stateOf(new SweepStore(dir).open());
    const before = {
      snapshot: readFileSync(join(dir, "journal.snapshot.jsonl")),
      journal: readFileSync(join(dir, "journal.jsonl")),
    };
    const compacting = new SweepStore(dir, { compactJournalBytes: 1 << 30 });
    compacting.open();
    compacting.compact();
    compacting.close();
    const after = {
      snapshot: readFileSync(join(dir, "journal.snapshot.jsonl")),
      journal: readFileSync(join(dir, "journal.jsonl")),
    };
    expect(after.journal.length).toBeLessThan(before.journal.length / 10);

    const states: Record<string, Record<string, Buffer>> = {
      "snapshot half written (temp file), nothing renamed": {
        "journal.snapshot.jsonl": before.snapshot,
        "journal.jsonl": before.journal,
        "journal.snapshot.jsonl.tmp-1": after.snapshot.subarray(0, after.snapshot.length >> 1),
      },
      "snapshot renamed, old journal still in place": {
        "journal.snapshot.jsonl": after.snapshot,
        "journal.jsonl": before.journal,
      },
      "snapshot renamed, new journal in its temp file": {
        "journal.snapshot.jsonl": after.snapshot,
        "journal.jsonl": before.journal,
        "journal.jsonl.tmp-1": after.journal,
      },
      "both renamed": { "journal.snapshot.jsonl": after.snapshot, "journal.jsonl": after.journal },
    };
    for (const [name, files] of Object.entries(states)) {
      const crashed = fresh();
      cpSync(join(dir, "results"), join(crashed, "results"), { recursive: true });
      for (const [file, bytes] of Object.entries(files)) writeFileSync(join(crashed, file), bytes);
      const reopened = new SweepStore(crashed);
      expect(stateOf(reopened.open()), name).toEqual(expected);
      // the temp files are gone, and what is appended now is replayed after the state
      expect(
        readdirSync(crashed).filter((f) => f.includes(".tmp-")),
        name,
      ).toEqual([]);
      reopened.append({ type: "sweep-cancelled", sweepId: "sw", at });
      reopened.close();
      const later = stateOf(new SweepStore(crashed).open());
      expect(later.sweep.at(-1), name).toMatch(/sweep-cancelled/);
      expect({ ...later, cancelled: false, sweep: later.sweep.slice(0, -1) }, name).toEqual(expected);
    }
  });

  it("a compaction that fails leaves the event written and the journal whole, and is tried again later", async () => {
    const dir = fresh();
    const store = new SweepStore(dir, { compactJournalBytes: 4096 });
    store.open();
    // the snapshot's temp file cannot be created: a directory stands in its way
    const blocker = join(dir, `journal.snapshot.jsonl.tmp-${process.pid}`);
    mkdirSync(blocker);
    store.note({ type: "shard-published", sweepId: "sw", shardId: "s0", at, task: { pad: "x".repeat(5000) } });
    expect(() => store.append({ type: "sweep-cancelled", sweepId: "sw", at })).toThrow(
      expect.objectContaining({
        code: "STORE_FAILED",
        message: expect.stringMatching(/cannot compact the journal of/),
      }),
    );
    expect(store.journalEpoch).toBe(0);
    rmSync(blocker, { recursive: true });
    // not tried again at once (that would fail on every write), but once the journal has grown as much again
    store.append({ type: "sweep-finished", sweepId: "sw", at, state: "SUCCEEDED" });
    expect(store.journalEpoch).toBe(0);
    store.note({ type: "shard-published", sweepId: "sw", shardId: "s1", at, task: { pad: "x".repeat(12000) } });
    store.append({ type: "shard-quarantined", sweepId: "sw", shardId: "s1", at, reason: "r" });
    expect(store.journalEpoch).toBe(1);
    store.close();
    expect(new SweepStore(dir).open().map((e) => e.type)).toEqual([
      "sweep-cancelled",
      "sweep-finished",
      "shard-quarantined",
    ]);
  });

  it("refuses a journal whose snapshot is missing, naming both files", async () => {
    const dir = fresh();
    const store = new SweepStore(dir);
    store.open();
    await fill(store, 5);
    store.compact();
    store.close();
    rmSync(join(dir, "journal.snapshot.jsonl"));
    expect(existsSync(join(dir, "journal.jsonl"))).toBe(true);
    expect(() => new SweepStore(dir).open()).toThrow(
      /journal\.jsonl is of epoch 1 but .*journal\.snapshot\.jsonl of epoch 0/,
    );
  });
});
