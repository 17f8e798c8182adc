/**
 * The report's figures: the heatmaps' diverging colour scale (neutral at 0, blue below, red
 * above, its ends at the cell's largest |drop|), the depth strips' dodged and labelled ranks, and
 * the verification curves' K ticks and legend.
 */
import { describe, expect, it } from "vitest";
import {
  DIVERGING,
  NEUTRAL,
  SERIES_STYLE,
  divergingColor,
  headRange,
  kTickLabels,
  renderReport,
  symmetricRange,
} from "../../report/index.ts";
import { fullCell, rankedHeads, rankings } from "../helpers/report-cells.ts";

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
/** Which way a colour leans from grey: "red", "blue" or "neutral". */
const hue = (hex: string) => {
  const [r, , b] = rgb(hex);
  return r - b > 8 ? "red" : b - r > 8 ? "blue" : "neutral";
};

describe("diverging colour scale", () => {
  it("draws 0 in the neutral colour, negatives blue and positives red, ends at ± the range", () => {
    expect(divergingColor(0, 0.3)).toBe(NEUTRAL);
    expect(hue(NEUTRAL)).toBe("neutral");
    expect(hue(divergingColor(-0.1, 0.3))).toBe("blue");
    expect(hue(divergingColor(0.1, 0.3))).toBe("red");
    expect(divergingColor(0.3, 0.3)).toBe(DIVERGING[DIVERGING.length - 1]);
    expect(divergingColor(-0.3, 0.3)).toBe(DIVERGING[0]);
    // beyond the range clamps; NaN and an empty range are neutral
    expect(divergingColor(5, 0.3)).toBe(DIVERGING[DIVERGING.length - 1]);
    expect(divergingColor(Number.NaN, 0.3)).toBe(NEUTRAL);
    expect(divergingColor(0.2, 0)).toBe(NEUTRAL);
    expect(symmetricRange([0.1, -0.4, Number.NaN, 0.25])).toBe(0.4);
  });

  it("darkens monotonically away from 0 on both sides", () => {
    const lum = (hex: string) => rgb(hex).reduce((s, v) => s + v, 0);
    const side = (sign: number) => Array.from({ length: 21 }, (_, i) => lum(divergingColor((sign * i) / 20, 1)));
    for (const steps of [side(1), side(-1)]) steps.slice(1).forEach((v, i) => expect(v).toBeLessThanOrEqual(steps[i]!));
  });

  it("takes each heatmap's range from its own cell: the largest |drop| gets the extreme colour", () => {
    // a 12 x 12 model whose largest drop is 7.5 % and one head that helps (−2.5 %)
    const cell = fullCell("m12", "+", 12, 12, [9, 1]);
    cell.heads = rankedHeads(12, 12, (l, h) => (l === 9 && h === 1 ? 0.075 : l === 3 && h === 4 ? -0.025 : 0));
    const html = renderReport(rankings([cell]));
    expect(headRange(cell.heads)).toBe(0.075);
    const fills = new Map(
      [
        ...html.matchAll(/<rect class="hm-cell"[^>]*fill="(#[0-9a-f]{6})"[^>]*data-layer="(\d+)" data-head="(\d+)"/g),
      ].map((m) => [`L${m[2]}H${m[3]}`, m[1]!]),
    );
    expect(fills.size).toBe(144);
    expect(fills.get("L9H1")).toBe(DIVERGING[DIVERGING.length - 1]);
    expect(hue(fills.get("L3H4")!)).toBe("blue");
    expect(fills.get("L0H0")).toBe(NEUTRAL);
    expect(html).toMatch(/<svg class="heatmap[^"]*"[^>]*data-range="0.075"/);
    // the legend gives the range with signs
    const legend = /<svg class="legend"[^>]*data-range="0.075">.*?<\/svg>/s.exec(html)?.[0] ?? "";
    const ticks = [...legend.matchAll(/class="tick"[^>]*>([^<]+)</g)].map((m) => m[1]);
    expect(ticks).toEqual(["\u22127.5%", "\u22123.8%", "0%", "+3.8%", "+7.5%"]);
    expect(legend).toContain("this cell&#39;s largest |drop|");
  });
});

describe("top heads at relative depth", () => {
  it("puts ranks 1–3 of a row at distinct positions, each labelled with its rank and head", () => {
    // every top head of the cell in the same layer: without dodging, the marks coincide
    const cell = fullCell("m", "+", 4, 4, [2, 0]);
    cell.heads = rankedHeads(4, 4, (l, h) => (l === 2 ? 0.5 - 0.1 * h : 0));
    const html = renderReport(rankings([cell, fullCell("m", "-", 4, 4, [1, 1])]));
    const rows = [...html.matchAll(/<g class="depth-row"[^>]*>(.*?)<\/g>/gs)].map((m) => m[1]!);
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      const marks = [...row.matchAll(/<circle class="depth-mark" cx="([^"]+)" cy="([^"]+)"[^>]*data-rank="(\d)"/g)];
      expect(marks.map((m) => m[3])).toEqual(["1", "2", "3"]);
      expect(new Set(marks.map((m) => `${m[1]},${m[2]}`)).size).toBe(3);
      const labels = [
        ...row.matchAll(/<text x="([^"]+)" y="([^"]+)" class="mark-label[^"]*" data-rank="(\d)">([^<]+)</g),
      ];
      expect(labels.map((m) => m[4])).toHaveLength(3);
      expect(new Set(labels.map((m) => `${m[1]},${m[2]}`)).size).toBe(3);
    }
    const first = [...rows[0]!.matchAll(/class="mark-label[^"]*" data-rank="\d">([^<]+)</g)].map((m) => m[1]);
    expect(first).toEqual(["#1 L2H0", "#2 L2H1", "#3 L2H2"]);
  });
});

describe("verification curves", () => {
  it("ticks the x axis at the K values run, and no other", () => {
    const cell = fullCell("m", "+", 2, 2, [0, 1]);
    const v = cell.verification!;
    const ks = [5, 20, 30, 50];
    for (const s of ["mask", "keep", "random"] as const)
      v[s] = ks.map((k, i) => ({ k, accuracy: 0.5, relativeDecrease: 0.1 * i }));
    const svg = /<svg class="curves".*?<\/svg>/s.exec(renderReport(rankings([cell])))?.[0] ?? "";
    expect([...svg.matchAll(/<line class="axis k-tick"[^>]*data-k="(\d+)"/g)].map((m) => Number(m[1]))).toEqual(ks);
    expect([...svg.matchAll(/class="tick k-label"[^>]*>(\d+)</g)].map((m) => Number(m[1]))).toEqual(ks);
  });

  it("leaves out labels that would crowd, keeping every tick and the largest K's label", () => {
    const ticks = kTickLabels([1, 2, 3, 50, 100], (k) => 3 * k);
    expect(ticks.map((t) => t.k)).toEqual([1, 2, 3, 50, 100]);
    expect(ticks.filter((t) => t.labelled).map((t) => t.k)).toEqual([1, 50, 100]);
  });

  it("says in the legend what each series zeroes, so keep reads as keep-only", () => {
    const svg = /<svg class="curves".*?<\/svg>/s.exec(renderReport(rankings([fullCell("m", "+", 2, 2, [0, 1])])))?.[0];
    const labels = [...(svg ?? "").matchAll(/class="legend-label">([^<]+)</g)].map((m) => m[1]);
    expect(labels).toEqual([SERIES_STYLE.mask.label, SERIES_STYLE.keep.label, SERIES_STYLE.random.label]);
    expect(labels).toEqual(["mask top-K (zero them)", "keep only top-K (zero the rest)", "mask K random (control)"]);
  });
});
