/**
 * `cna watch`: the coordinator streams a Sweep only when something changes, so a sweep no worker
 * serves says "waiting for workers" once no shard has been stored for a while (an injected clock,
 * no sleeps); the redrawn line fits the terminal; logs get whole lines, the stall once.
 */
import { describe, expect, it } from "vitest";
import { Stage, SweepState } from "../../proto/index.ts";
import type { Sweep } from "../../proto/index.ts";
import { STALL_AFTER_MS, sweepLine, WatchDisplay } from "../../cli/watch-progress.ts";

const ID = "zoo-quick-with-a-rather-long-sweep-name-0f3a9c2e71d4b8a6";

function sweep(stored: number, o: Partial<Sweep> = {}): Sweep {
  return {
    id: ID,
    name: "zoo-quick-with-a-rather-long-sweep-name",
    state: SweepState.SWEEP_STATE_RUNNING,
    stages: [
      { stage: Stage.STAGE_HEAD_ABLATION, total: 20, expected: 20, stored: Math.min(stored, 20), quarantined: 0 },
      {
        stage: Stage.STAGE_CNA,
        total: stored >= 20 ? 20 : 0,
        expected: 20,
        stored: Math.max(0, stored - 20),
        quarantined: 0,
      },
      { stage: Stage.STAGE_VERIFY, total: 0, expected: 20, stored: 0, quarantined: 0 },
      { stage: Stage.STAGE_TOP_TOKENS, total: 0, expected: 20, stored: 0, quarantined: 0 },
    ],
    cells: 20,
    cellsDone: 0,
    cellsFailed: 0,
    duplicates: 0,
    nondeterministic: 0,
    redeliveries: 0,
    quarantined: [],
    casesPerSecond: 0,
    existing: false,
    ...o,
  };
}

function fake(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  return { writes, isTTY, ...(columns ? { columns } : {}), write: (s: string) => writes.push(s) };
}

describe("cna watch", () => {
  it("says it is waiting for workers once no shard has been stored for a while", () => {
    let t = 0;
    const s = fake(false);
    const d = new WatchDisplay(s, { now: () => t });
    d.update(sweep(0));
    t = STALL_AFTER_MS - 1000;
    d.tick();
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0]).not.toMatch(/waiting/);
    t = STALL_AFTER_MS;
    d.tick();
    expect(s.writes).toHaveLength(2);
    expect(s.writes[1]).toBe(
      `${ID} [running] cells 0/20 · waiting for workers (no shard stored in 10s) · head-ablation 0/20 · cna 0/~20 · verify 0/~20 · top-tokens 0/~20 · 0.0 cases/s\n`,
    );
    // in a log, once: later ticks of the same stall add no lines
    t += 60_000;
    d.tick();
    expect(s.writes).toHaveLength(2);
    // a stored shard ends the stall
    d.update(sweep(1));
    expect(s.writes.at(-1)).not.toMatch(/waiting/);
  });

  it("counts the stall from the last stored shard, and never for a finished sweep", () => {
    let t = 0;
    const s = fake(true, 200);
    const d = new WatchDisplay(s, { now: () => t });
    d.update(sweep(3));
    t = 7000;
    d.update(sweep(4, { casesPerSecond: 5 })); // a shard stored: the clock starts again
    t = 7000 + STALL_AFTER_MS - 1;
    d.tick();
    expect(s.writes.at(-1)).not.toMatch(/waiting/);
    t = 7000 + 75_000;
    d.tick();
    expect(s.writes.at(-1)).toMatch(/waiting for workers \(no shard stored in 1m15s\)/);
    d.update(sweep(4, { state: SweepState.SWEEP_STATE_FAILED }));
    t += 60_000;
    d.tick();
    expect(s.writes.at(-1)).not.toMatch(/waiting/);
  });

  it("fits the redrawn line, stall notice included, in 80 columns", () => {
    let t = 0;
    const s = fake(true, 80);
    const d = new WatchDisplay(s, { now: () => t });
    d.update(sweep(25, { redeliveries: 2, duplicates: 1, etaSeconds: 90, casesPerSecond: 123.4 }));
    t = 3_600_000;
    d.tick();
    d.done();
    const lines = s.writes
      .filter((w) => w.startsWith("\r"))
      .map((w) => w.slice(1, w.endsWith("\x1b[K") ? -3 : undefined));
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(79);
    expect(lines[0]).toMatch(/cna 5\/20/);
    expect(lines[1]).toMatch(/waiting for workers/);
    expect(s.writes.at(-1)).toBe("\n");
    expect(sweepLine(sweep(25, { redeliveries: 2 })).length).toBeGreaterThan(80);
  });
});
