import { describe, expect, it } from "vitest";
import { fitParts, lineWidth, ProgressDisplay, progressLine } from "../../cli/progress.ts";

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, isTTY, write: (text: string) => writes.push(text) };
}

describe("ProgressDisplay", () => {
  it("formats the stage, counts, unit and whole percent", () => {
    expect(progressLine("head-ablation", 1234, 4096)).toBe("head-ablation 1234/4096 cases·heads 30%");
    expect(progressLine("cna", 0, 0)).toBe("cna 0/0 cases 100%");
  });

  it("redraws one line on a TTY, throttled, always drawing a stage's end, and clears it", () => {
    const s = sink(true);
    let t = 0;
    const p = new ProgressDisplay(s, { now: () => t });
    p.update("cna", 1, 4);
    t = 50;
    p.update("cna", 2, 4); // within 100 ms of the last redraw: skipped
    t = 200;
    p.update("cna", 3, 4);
    t = 210;
    p.update("cna", 4, 4); // the stage's end is always drawn
    p.clear();
    expect(s.writes).toEqual([
      "\rcna 1/4 cases 25%\x1b[K",
      "\rcna 3/4 cases 75%\x1b[K",
      "\rcna 4/4 cases 100%\x1b[K",
      "\r\x1b[K",
    ]);
  });

  it("prints plain lines at most every 2 s when not a TTY, plus one per stage end", () => {
    const s = sink(false);
    let t = 0;
    const p = new ProgressDisplay(s, { now: () => t });
    p.update("head-ablation", 10, 40);
    t = 1000;
    p.update("head-ablation", 20, 40);
    t = 2500;
    p.update("head-ablation", 30, 40);
    t = 2600;
    p.update("head-ablation", 40, 40);
    p.update("verify", 5, 60);
    p.clear(); // nothing to clear in a log
    expect(s.writes).toEqual([
      "head-ablation 10/40 cases·heads 25%\n",
      "head-ablation 30/40 cases·heads 75%\n",
      "head-ablation 40/40 cases·heads 100%\n",
    ]);
  });
});

describe("fitting a progress line to the terminal", () => {
  const parts = [
    { text: "[running] cells 3/20", drop: 0 },
    { text: "cna 12/~60", drop: 1 },
    { text: "1234 cases", drop: 5 },
    { text: "56 cases/s", drop: 2 },
    { text: "2 shards in flight", drop: 5 },
  ];

  it("keeps every part when they fit, and drops the most droppable first (the later of equals)", () => {
    expect(fitParts(parts, 200)).toBe(
      "[running] cells 3/20 · cna 12/~60 · 1234 cases · 56 cases/s · 2 shards in flight",
    );
    expect(fitParts(parts, 60)).toBe("[running] cells 3/20 · cna 12/~60 · 1234 cases · 56 cases/s");
    expect(fitParts(parts, 50)).toBe("[running] cells 3/20 · cna 12/~60 · 56 cases/s");
    expect(fitParts(parts, 40)).toBe("[running] cells 3/20 · cna 12/~60");
  });

  it("cuts what cannot be dropped with an ellipsis", () => {
    expect(fitParts(parts, 12)).toBe("[running] c…");
    expect(fitParts(parts, 12)).toHaveLength(12);
  });

  it("leaves the last column free and assumes 80 columns where a TTY does not say", () => {
    expect(lineWidth({ write: () => 0, isTTY: true, columns: 80 })).toBe(79);
    expect(lineWidth({ write: () => 0, isTTY: true })).toBe(79);
    expect(lineWidth({ write: () => 0, isTTY: true, columns: 132 })).toBe(131);
  });

  it("cuts the analysis line on a narrow TTY", () => {
    const s = { ...sink(true), columns: 20 };
    new ProgressDisplay(s, { now: () => 0 }).update("head-ablation", 1234, 4096);
    expect(s.writes).toEqual(["\rhead-ablation 1234…\x1b[K"]);
  });
});
