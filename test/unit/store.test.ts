/**
 * The coordinator's data directory: results are stored once (a later copy is only compared by
 * digest), and a journal whose last line was torn by a crash is repaired, not refused.
 */
import { afterEach, describe, expect, it } from "vitest";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  it("keeps the first copy of a result and compares later ones by digest", () => {
    const store = new SweepStore(fresh());
    store.open();
    const a = new TextEncoder().encode('{"kind":"verify"}');
    const b = new TextEncoder().encode('{"kind":"verify","x":1}');
    expect(store.putResult("s1", a)).toMatchObject({ outcome: "stored" });
    expect(store.putResult("s1", a)).toMatchObject({ outcome: "duplicate", matches: true });
    expect(store.putResult("s1", b)).toMatchObject({ outcome: "duplicate", matches: false });
    expect(new TextDecoder().decode(store.getResult("s1"))).toBe('{"kind":"verify"}');
    expect(() => store.putResult("../escape", a)).toThrow(/invalid shard id/);
    store.close();
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
    expect(readFileSync(join(dir, "journal.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).sweepId)).toEqual(["a", "b"]);

    writeFileSync(join(dir, "journal.jsonl"), '{"type":"sweep-canc\n{"type":"sweep-cancelled","sweepId":"c","at":"t2"}\n');
    expect(() => new SweepStore(dir).open()).toThrow(/journal.jsonl:1: corrupt journal line/);
  });
});
