import { describe, expect, it } from "vitest";
import { ProgressDisplay, progressLine } from "../../cli/progress.ts";

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
