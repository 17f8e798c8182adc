/**
 * The coordinator's data directory: results are stored once (a later copy is only compared by
 * digest), and a journal whose last line was torn by a crash is repaired, not refused.
 */
import { afterEach, describe, expect, it } from "vitest";
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SweepStore } from "../../coordinator/index.ts";

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), "cna-store-"));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("SweepStore", () => {
  it("keeps the first copy of a result and compares later ones by digest", async () => {
    const store = new SweepStore(fresh());
    store.open();
    const a = new TextEncoder().encode('{"kind":"verify"}');
    const b = new TextEncoder().encode('{"kind":"verify","x":1}');
    expect(await store.putResult("s1", a)).toMatchObject({ outcome: "stored" });
    expect(await store.putResult("s1", a)).toMatchObject({ outcome: "duplicate", matches: true });
    expect(await store.putResult("s1", b)).toMatchObject({ outcome: "duplicate", matches: false });
    expect(new TextDecoder().decode(store.getResult("s1"))).toBe('{"kind":"verify"}');
    await expect(store.putResult("../escape", a)).rejects.toThrow(/invalid shard id/);
    store.close();
  });

  it("stores concurrent reports whole and once each: later copies of a shard wait for the first, then compare", async () => {
    const dir = fresh();
    const store = new SweepStore(dir);
    store.open();
    const enc = (s: string) => new TextEncoder().encode(s);
    // three copies of s1 arrive together (the last one different), with 40 other shards
    const copies = [
      store.putResult("s1", enc("one")),
      store.putResult("s1", enc("one")),
      store.putResult("s1", enc("uno")),
    ];
    const others = Array.from({ length: 40 }, (_, i) => store.putResult(`t${i}`, enc(`r${i}`)));
    const outcomes = await Promise.all(copies);
    expect(outcomes.map((o) => o.outcome)).toEqual(["stored", "duplicate", "duplicate"]);
    expect(outcomes.map((o) => (o.outcome === "duplicate" ? o.matches : null))).toEqual([null, true, false]);
    expect((await Promise.all(others)).every((o) => o.outcome === "stored")).toBe(true);
    store.close();
    // every blob is whole and no temp file is left behind
    expect(readdirSync(join(dir, "results")).sort()).toEqual(
      ["s1.json", ...Array.from({ length: 40 }, (_, i) => `t${i}.json`)].sort(),
    );
    expect(readFileSync(join(dir, "results", "t7.json"), "utf8")).toBe("r7");
    expect(readFileSync(join(dir, "results", "s1.json"), "utf8")).toBe("one");
  });

  it("knows after a restart what is stored: a later copy is a duplicate, and a temp file left by a crash is not a result", async () => {
    const dir = fresh();
    const enc = (s: string) => new TextEncoder().encode(s);
    const first = new SweepStore(dir);
    first.open();
    await first.putResult("s1", enc("one"));
    first.close();
    writeFileSync(join(dir, "results", "s2.json.tmp-1-1"), "torn"); // a crash between write and rename
    const again = new SweepStore(dir);
    again.open();
    expect([again.hasResult("s1"), again.hasResult("s2")]).toEqual([true, false]);
    expect(await again.putResult("s1", enc("uno"))).toMatchObject({ outcome: "duplicate", matches: false });
    expect(await again.putResult("s2", enc("two"))).toMatchObject({ outcome: "stored" });
    expect(again.hasResult("s2")).toBe(true);
    again.close();
  });

  it("rejects a result it cannot store, naming the shard and the directory, and stores the next one", async () => {
    const dir = fresh();
    const store = new SweepStore(dir);
    store.open();
    rmSync(join(dir, "results"), { recursive: true });
    await expect(store.putResult("s1", new TextEncoder().encode("x"))).rejects.toThrow(
      /cannot store the result of shard s1 in .*results: .*ENOENT/,
    );
    expect(store.hasResult("s1")).toBe(false);
    mkdirSync(join(dir, "results"));
    expect(await store.putResult("s1", new TextEncoder().encode("x"))).toMatchObject({ outcome: "stored" });
    store.close();
  });

  it("writes notes by the end of the event-loop turn, in order with the appended events, and replays them", async () => {
    const dir = fresh();
    const store = new SweepStore(dir);
    store.open();
    const lines = () =>
      readFileSync(join(dir, "journal.jsonl"), "utf8")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l).at);
    store.note({ type: "shard-published", sweepId: "a", shardId: "s1", at: "t0", task: {} });
    store.append({ type: "sweep-cancelled", sweepId: "a", at: "t1" }); // writes the note before it
    store.note({ type: "shard-published", sweepId: "a", shardId: "s2", at: "t2", task: {} });
    expect(lines()).toEqual(["t0", "t1"]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines()).toEqual(["t0", "t1", "t2"]);
    store.note({ type: "shard-published", sweepId: "a", shardId: "s3", at: "t3", task: {} });
    store.close(); // writes what is left
    expect(new SweepStore(dir).open().map((e) => e.type)).toEqual([
      "shard-published",
      "sweep-cancelled",
      "shard-published",
      "shard-published",
    ]);
  });

  it("drops a torn last journal line and appends after it; refuses a torn line in the middle", () => {
    const dir = fresh();
    const store = new SweepStore(dir);
    store.open();
    store.append({ type: "sweep-cancelled", sweepId: "a", at: "t0" });
    store.close();
    appendFileSync(join(dir, "journal.jsonl"), '{"type":"sweep-canc');
    const again = new SweepStore(dir);
    expect(again.open()).toEqual([{ type: "sweep-cancelled", sweepId: "a", at: "t0" }]);
    again.append({ type: "sweep-cancelled", sweepId: "b", at: "t1" });
    again.close();
    expect(
      readFileSync(join(dir, "journal.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).sweepId),
    ).toEqual(["a", "b"]);

    writeFileSync(
      join(dir, "journal.jsonl"),
      '{"type":"sweep-canc\n{"type":"sweep-cancelled","sweepId":"c","at":"t2"}\n',
    );
    expect(() => new SweepStore(dir).open()).toThrow(/journal.jsonl:1: corrupt journal line/);
  });
});
