import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RANKINGS_SCHEMA, buildCellRankings, coefSign } from "../../core/index.ts";
import type { CellPartials, ModelDims, Rankings } from "../../core/index.ts";
import { RANKINGS_SCHEMA_PATH, rankingsSchemaErrors } from "../helpers/rankings-schema.ts";

const dims: ModelDims = { nLayer: 2, nHead: 2, dMlp: 3 };
const head = { layer: 1, head: 0 };

/**
 * Hand-made partials with every section, small enough to read: 4 cases, 4 heads, 6 neurons; one
 * of the cell's pairs took the boundary fallback, so every stage counts it.
 */
function partials(): CellPartials {
  return {
    headAblation: {
      kind: "head-ablation",
      dims,
      cases: 4,
      baselineCorrect: 3,
      baselineProbSum: 2.5,
      boundaryFallbacks: 1,
      correct: [3, 2, 0, 3],
      probSum: [2.4, 1.9, 0.3, 2.5],
    },
    attribution: {
      kind: "attribution",
      dims,
      cases: 4,
      baselineCorrect: 3,
      topK: 2,
      boundaryFallbacks: 1,
      impSum: [0.4, -0.1, 0, 1.2, 0.3, 0.2],
      coefSum: [2, 0.5, 0, -8, 1, 0],
      topKCount: [2, 0, 0, 4, 2, 0],
      attnLayerSum: [0.5, 1.5],
      ffnLayerSum: [0.2, 0.9],
      headSum: [0.1, 0.4, 1.1, 0.2],
    },
    cna: {
      kind: "cna",
      dims,
      cases: 4,
      baselineCorrect: 3,
      ablatedHead: head,
      topK: 2,
      boundaryFallbacks: 1,
      impOrigSum: [0.4, -0.1, 0, 1.2, 0.3, 0.2],
      impAblatedSum: [0.3, -0.1, 0, 0.2, 0.3, 0.1],
      cnaSum: [0.1, 0, 0, 1, 0, 0.1],
      coefOrigSum: [1, 0, 0, 4, 0.5, 0.2],
      coefAblatedSum: [0.9, 0, 0, 1, 0.5, 0.1],
      topKCount: [4, 0, 0, 4, 0, 0],
      perCase: [0, 1, 2, 3].map((caseId) => ({ caseId, neurons: [3, 0], scores: [0.25, 0.025] })),
    },
    verify: {
      kind: "verify",
      dims,
      cases: 4,
      ablatedHead: head,
      ks: [1, 2],
      seed: 1234,
      baselineCorrect: 3,
      boundaryFallbacks: 1,
      mask: [1, 0],
      keep: [3, 2],
      random: [3, 3],
    },
  };
}

function fullRankings(): Rankings {
  const cell = buildCellRankings({ model: "tiny", op: "+", digits: 1, template: 4 }, partials(), 3);
  cell.neurons!.forEach((n) => Object.assign(n, { topTokens: ["8", "9"], topTokensSign: coefSign(n.coefOrigMean) }));
  cell.attribution!.neurons.forEach((n) =>
    Object.assign(n, { topTokens: ["=", " "], topTokensSign: coefSign(n.coefMean) }),
  );
  return { schema: RANKINGS_SCHEMA, cells: [cell] };
}

describe("schemas/rankings.schema.json", () => {
  it("accepts rankings built from partials with every section", () => {
    const rankings = fullRankings();
    expect(rankings.cells[0]!.heads).toHaveLength(4);
    expect(rankings.cells[0]!.verification!.mask).toHaveLength(2);
    expect(rankings.cells[0]!.attribution!.neurons[0]).toMatchObject({
      layer: 1,
      neuron: 0,
      impMean: 0.3,
      coefMean: -2,
      topTokensSign: -1,
    });
    expect(rankingsSchemaErrors(rankings)).toEqual([]);
  });

  it("accepts a cell with only the required fields (every section is optional)", () => {
    const cell = buildCellRankings(
      { model: "tiny", op: "/", digits: 3, template: 1 },
      { headAblation: partials().headAblation! },
    );
    delete cell.heads;
    expect(rankingsSchemaErrors({ schema: RANKINGS_SCHEMA, cells: [cell] })).toEqual([]);
  });

  it("documents every cell field the code writes, and nothing it does not", () => {
    const schema = JSON.parse(readFileSync(RANKINGS_SCHEMA_PATH, "utf8")) as {
      $defs: { cell: { properties: object } };
    };
    expect(Object.keys(fullRankings().cells[0]!).sort()).toEqual(Object.keys(schema.$defs.cell.properties).sort());
  });

  it.each<[string, (r: Rankings & Record<string, unknown>) => void, string]>([
    [
      "a misspelled head field",
      (r) => {
        (r.cells[0]!.heads![0] as unknown as Record<string, unknown>).accuracyDrp = 0.1;
      },
      "/cells/0/heads/0",
    ],
    [
      "an unknown cell field",
      (r) => {
        (r.cells[0] as unknown as Record<string, unknown>).topHead = "1.0";
      },
      "/cells/0",
    ],
    [
      "an operator outside + - * /",
      (r) => {
        (r.cells[0] as unknown as Record<string, unknown>).op = "%";
      },
      "/cells/0/op",
    ],
    [
      "a missing required field",
      (r) => {
        delete (r.cells[0] as unknown as Record<string, unknown>).baselineAccuracy;
      },
      "/cells/0",
    ],
    [
      "a string where a number belongs",
      (r) => {
        (r.cells[0]!.neurons![0] as unknown as Record<string, unknown>).cnaMean = "0.25";
      },
      "/cells/0/neurons/0/cnaMean",
    ],
    [
      "a top-token sign other than 1 or -1",
      (r) => {
        (r.cells[0]!.attribution!.neurons[0] as unknown as Record<string, unknown>).topTokensSign = 0;
      },
      "/cells/0/attribution/neurons/0/topTokensSign",
    ],
    [
      "a verification K of 0",
      (r) => {
        r.cells[0]!.verification!.mask[0]!.k = 0;
      },
      "/cells/0/verification/mask/0/k",
    ],
    [
      "another schema version",
      (r) => {
        (r as Record<string, unknown>).schema = "cna-sweep/rankings@2";
      },
      "/schema",
    ],
  ])("rejects %s", (_, corrupt, path) => {
    const rankings = fullRankings() as Rankings & Record<string, unknown>;
    corrupt(rankings);
    const errors = rankingsSchemaErrors(rankings);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.some((e) => e.startsWith(`${path} `))).toBe(true);
  });
});
