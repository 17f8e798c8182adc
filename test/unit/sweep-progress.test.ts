/**
 * Sweep progress: one redrawn line on a TTY; in logs, a line when a stage completes or a shard is
 * quarantined, otherwise at most one per interval. Rates and ETA come from recent samples.
 */
import { describe, expect, it } from "vitest";
import type { SweepStatus } from "../../coordinator/index.ts";
import { formatDuration, RateTracker, stageCount, SweepProgress, sweepProgressLine } from "../../cli/sweep-progress.ts";
import type { SweepProgressFacts } from "../../cli/sweep-progress.ts";

const status = (stored: number, o: Partial<SweepStatus> = {}): SweepStatus => ({
  sweepId: "s",
  state: "RUNNING",
  cells: 2,
  cellsDone: 0,
  cellsFailed: 0,
  // cna is planned once head ablation is merged: its total is 0 until then, its expected 4 throughout
  stages: [
    { stage: "head-ablation", total: 4, expected: 4, stored: Math.min(stored, 4), quarantined: 0 },
    { stage: "cna", total: stored >= 4 ? 4 : 0, expected: 4, stored: Math.max(0, stored - 4), quarantined: 0 },
  ],
  shardsExpected: 8,
  shardsStored: stored,
  casesDone: stored * 50,
  duplicates: 0,
  nondeterministic: 0,
  redeliveries: 0,
  quarantined: [],
  ...o,
});

describe("sweep progress", () => {
  it("states stages, cases, rate, ETA, busy workers, failures and quarantines", () => {
    const line = sweepProgressLine({
      status: status(5, {
        redeliveries: 2,
        // a view lists the first quarantined shards only; the stages count them all
        quarantined: [{ shardId: "x", cell: "m + 1D t4", stage: "cna", reason: "r" }],
        stages: status(5).stages.map((p) => (p.stage === "cna" ? { ...p, quarantined: 25 } : p)),
      }),
      casesPerSecond: 12.4,
      etaSeconds: 75,
      workersActive: 2,
      workers: 4,
      shardsInFlight: 3,
      failures: 1,
    });
    expect(line).toBe(
      "[running] cells 0/2 · head-ablation 4/4 · cna 1/4 · 250 cases · 12 cases/s · ETA 1m15s · 2/4 workers busy · 3 shards in flight · 1 failures · 2 redeliveries · 25 QUARANTINED",
    );
    expect([formatDuration(5), formatDuration(3725)]).toEqual(["5s", "1h02m"]);
  });

  it("computes the rate and the ETA from samples", () => {
    let t = 0;
    const r = new RateTracker(() => t);
    expect(r.add(status(0))).toEqual({ casesPerSecond: null, etaSeconds: null });
    t = 10_000;
    // head ablation at 0.2 shards/s: its 2 left and cna's 4 (not planned yet) at that rate
    expect(r.add(status(2))).toEqual({ casesPerSecond: 10, etaSeconds: 30 });
  });

  it("estimates each stage at its own rate, stages not yet planned included", () => {
    let t = 0;
    const r = new RateTracker(() => t);
    r.add(status(4));
    t = 10_000;
    // cna runs at 0.1 shards/s (1 in 10 s): its 3 left take 30 s; head ablation is done
    expect(r.add(status(5)).etaSeconds).toBe(30);
    const three = (stored: number): SweepStatus => ({
      ...status(stored),
      stages: [...status(stored).stages, { stage: "verify", total: 0, expected: 4, stored: 0, quarantined: 0 }],
      shardsExpected: 12,
    });
    const r2 = new RateTracker(() => t);
    t = 0;
    r2.add(three(0));
    t = 20_000;
    // head ablation 4 in 20 s (0.2/s) done; cna and verify (unplanned) at that rate: 8 / 0.2
    expect(r2.add(three(4)).etaSeconds).toBe(40);
  });

  it("redraws on a TTY and throttles plain lines, except when a stage completes", () => {
    const tty: string[] = [];
    const p = new SweepProgress({ isTTY: true, write: (s: string) => tty.push(s) });
    p.update({ status: status(1), casesPerSecond: null, etaSeconds: null });
    p.done();
    expect(tty[0]!.startsWith("\r[running]")).toBe(true);
    expect(tty.at(-1)).toBe("\n");

    let t = 0;
    const log: string[] = [];
    const q = new SweepProgress({ write: (s: string) => log.push(s) }, 5000, () => t);
    q.update({ status: status(1), casesPerSecond: null, etaSeconds: null });
    t = 1000;
    q.update({ status: status(2), casesPerSecond: null, etaSeconds: null });
    t = 2000;
    q.update({ status: status(4), casesPerSecond: null, etaSeconds: null }); // head ablation complete
    t = 8000;
    q.update({ status: status(5), casesPerSecond: null, etaSeconds: null });
    expect(log.map((l) => /head-ablation (\d)/.exec(l)![1])).toEqual(["1", "4", "4"]);
  });
});

/** What a redraw leaves on the terminal: the text between "\r" and "erase to the end of the line". */
const shown = (write: string) => write.slice(write.startsWith("\r") ? 1 : 0, write.endsWith("\x1b[K") ? -3 : undefined);

describe("sweep progress on a terminal and in logs", () => {
  const busy = (stored: number): SweepProgressFacts => ({
    status: status(stored, {
      stages: [
        { stage: "head-ablation", total: 40, expected: 40, stored: Math.min(stored, 40), quarantined: 0 },
        { stage: "cna", total: stored >= 40 ? 40 : 12, expected: 40, stored: Math.max(0, stored - 40), quarantined: 1 },
        { stage: "verify", total: 0, expected: 40, stored: 0, quarantined: 0 },
        { stage: "top-tokens", total: 0, expected: 20, stored: 0, quarantined: 0 },
      ],
      shardsExpected: 140,
      redeliveries: 3,
      quarantined: [{ shardId: "x", cell: "arith-qwen2-4l-d64-with-a-long-name + 1D t4", stage: "cna", reason: "r" }],
    }),
    casesPerSecond: 1234.5,
    etaSeconds: 3725,
    workersActive: 8,
    workers: 8,
    shardsInFlight: 16,
    failures: 2,
  });

  it("fits every redrawn line in an 80-column terminal, keeping the running stage and the ETA", () => {
    expect(sweepProgressLine(busy(45)).length).toBeGreaterThan(120);
    const writes: string[] = [];
    const p = new SweepProgress({ isTTY: true, columns: 80, write: (s: string) => writes.push(s) });
    for (const stored of [0, 20, 45, 80]) p.update(busy(stored));
    for (const w of writes.map(shown)) {
      expect(w.length).toBeLessThanOrEqual(79);
      expect(w).toMatch(/^\[running\] cells 0\/2 · /);
      expect(w).toContain("ETA 1h02m");
    }
    expect(shown(writes[2]!)).toContain("cna 5/40");
    expect(shown(writes[2]!)).toContain("1 QUARANTINED");
    const wide: string[] = [];
    new SweepProgress({ isTTY: true, columns: 300, write: (s: string) => wide.push(s) }).update(busy(45));
    expect(shown(wide[0]!)).toBe(sweepProgressLine(busy(45)));
  });

  it("erases the redrawn line before a message, and draws it again on the next update", () => {
    const writes: string[] = [];
    const p = new SweepProgress({ isTTY: true, columns: 80, write: (s: string) => writes.push(s) });
    p.update(busy(45));
    p.clear();
    p.clear(); // nothing drawn: nothing to erase
    p.done(); // nor to end
    p.update(busy(46));
    p.done();
    expect(writes.map((w) => w.slice(0, 12))).toEqual(["\r[running] c", "\r\x1b[K", "\r[running] c", "\n"]);
  });

  it("prints whole lines without carriage returns when stderr is not a TTY", () => {
    let t = 0;
    const log: string[] = [];
    const p = new SweepProgress({ columns: 80, write: (s: string) => log.push(s) }, 5000, () => t);
    for (const stored of [0, 20, 40, 45, 80]) {
      p.update(busy(stored));
      t += 6000;
    }
    p.done();
    expect(log).toHaveLength(5);
    for (const line of log) {
      expect(line).not.toContain("\r");
      expect(line).not.toContain("\x1b");
      expect(line.endsWith("\n")).toBe(true);
    }
    // whole: a log is not cut to the terminal's width
    expect(log[2]).toBe(`${sweepProgressLine(busy(40))}\n`);
    expect(log[2]!.length).toBeGreaterThan(120);
  });

  it("shows each stage's total from the plan from the first line on, marked ~ until planned in every cell", () => {
    const lines = [0, 2, 4, 5, 8].map((stored) =>
      sweepProgressLine({ status: status(stored), casesPerSecond: null, etaSeconds: null }),
    );
    expect(lines[0]).toContain("head-ablation 0/4 · cna 0/~4");
    expect(lines[3]).toContain("head-ablation 4/4 · cna 1/4");
    const totals = lines.map((l) => /cna \d+\/~?(\d+)/.exec(l)![1]);
    expect(new Set(totals)).toEqual(new Set(["4"]));
    expect(stageCount(3, 12, 40)).toBe("3/~40");
    expect(stageCount(40, 40, 40)).toBe("40/40");
  });
});
