/**
 * A cell whose top head is no finding says so: a 0 % baseline (every head ties on accuracy, the
 * order is the mean-probability tie-break) and a drop of fewer than NOISE_CASES cases are
 * flagged in rankings.json, in the report and in the CLI's caution lines; a clear drop is not.
 */
import { describe, expect, it } from "vitest";
import { buildCellRankings, NOISE_CASES, RANKINGS_SCHEMA } from "../../core/index.ts";
import type { HeadAblationPartial, Rankings } from "../../core/index.ts";
import { cautionLines } from "../../cli/tables.ts";
import { renderReport } from "../../report/index.ts";
import { rankingsSchemaErrors } from "../helpers/rankings-schema.ts";

const key = { model: "m", op: "+" as const, digits: 1 as const, template: 4 as const };
/** 2 layers × 2 heads over 40 cases; `correct` per head. */
const partial = (baselineCorrect: number, correct: number[]): HeadAblationPartial => ({
  kind: "head-ablation",
  dims: { nLayer: 2, nHead: 2, dMlp: 8 },
  cases: 40,
  baselineCorrect,
  baselineProbSum: 10,
  correct,
  probSum: [9, 8, 7, 6],
});

describe("headRankingBasis", () => {
  const cases: Array<[string, HeadAblationPartial, string]> = [
    ["0 % baseline: every head ties at 0", partial(0, [0, 0, 0, 0]), "meanProbCorrect-only"],
    ["no head changes the accuracy", partial(30, [30, 30, 30, 30]), "meanProbCorrect-only"],
    [`a drop of ${NOISE_CASES - 1} cases`, partial(30, [30, 25, 30, 28]), "within-noise"],
    [`a drop of ${NOISE_CASES} cases`, partial(30, [30, 24, 30, 28]), "accuracy"],
    ["a dominant head", partial(40, [40, 10, 39, 38]), "accuracy"],
  ];
  it.each(cases)("%s → %s", (_name, p, basis) => {
    const cell = buildCellRankings(key, { headAblation: p });
    expect(cell.headRankingBasis).toBe(basis);
    expect(rankingsSchemaErrors({ schema: RANKINGS_SCHEMA, cells: [cell] })).toEqual([]);
    const rankings: Rankings = { schema: RANKINGS_SCHEMA, cells: [cell] };
    const html = renderReport(rankings, undefined, { title: "t" });
    const lines = cautionLines(rankings);
    if (basis === "accuracy") {
      expect(lines).toEqual([]);
      expect(html).not.toContain('class="caution"');
    } else {
      expect(lines).toEqual([
        expect.stringMatching(
          new RegExp(`^caution: m \\+ 1D template 4: top head L\\d+H\\d+ is not a finding \\(${basis}: `),
        ),
      ]);
      expect(html).toContain(`<p class="caution" data-basis="${basis}">`);
    }
  });
});
