/**
 * A reported result is checked for the shape of its stage's partial before it is stored
 * (core/partial-check.ts): the partials the engine produces pass, and each way a result can be
 * malformed is named by its field.
 */
import { describe, expect, it } from "vitest";
import { partialProblem } from "../../core/index.ts";

const dims = { nLayer: 2, nHead: 2, dMlp: 3 };
const GOOD: Record<string, Record<string, unknown>> = {
  "head-ablation": {
    kind: "head-ablation",
    dims,
    cases: 4,
    baselineCorrect: 3,
    baselineProbSum: 2.5,
    correct: [1, 2, 3, 4],
    probSum: [0.1, 0.2, 0.3, 0.4],
    boundaryFallbacks: 1,
  },
  attribution: {
    kind: "attribution",
    dims,
    cases: 1,
    baselineCorrect: 1,
    topK: 2,
    impSum: [0, 0, 0, 0, 0, 0],
    coefSum: [0, 0, 0, 0, 0, -1],
    topKCount: [0, 1, 0, 0, 1, 0],
    attnLayerSum: [1, 2],
    ffnLayerSum: [1, 2],
    headSum: [1, 2, 3, 4],
  },
  cna: {
    kind: "cna",
    dims,
    cases: 1,
    baselineCorrect: 1,
    ablatedHead: { layer: 1, head: 0 },
    topK: 2,
    impOrigSum: [0, 0, 0, 0, 0, 0],
    impAblatedSum: [0, 0, 0, 0, 0, 0],
    cnaSum: [0, 0, 0, 0, 0, 0],
    coefOrigSum: [0, 0, 0, 0, 0, 0],
    coefAblatedSum: [0, 0, 0, 0, 0, 0],
    topKCount: [0, 0, 0, 0, 0, 0],
    perCase: [{ caseId: 0, neurons: [5, 0], scores: [0.5, 0.25] }],
  },
  verify: {
    kind: "verify",
    dims,
    cases: 2,
    ablatedHead: { layer: 0, head: 1 },
    ks: [1, 2],
    seed: 7,
    baselineCorrect: 2,
    mask: [1, 0],
    keep: [2, 2],
    random: [2, 1],
  },
  "top-tokens": {
    kind: "top-tokens",
    dims,
    cna: [{ layer: 1, neuron: 2, sign: -1, tokens: ["7", "8"] }],
    attribution: [],
  },
};

describe("partialProblem", () => {
  it("accepts a partial of each stage", () => {
    for (const [kind, p] of Object.entries(GOOD)) expect(partialProblem(p, kind), kind).toBeNull();
  });

  it("names what is wrong", () => {
    const with_ = (kind: string, change: Record<string, unknown>) => partialProblem({ ...GOOD[kind], ...change }, kind);
    expect(partialProblem("x", "verify")).toMatch(/not a JSON object/);
    expect(partialProblem(GOOD.verify, "cna")).toMatch(/^kind is "verify", not "cna"/);
    expect(with_("cna", { dims: { nLayer: 0, nHead: 2, dMlp: 3 } })).toMatch(/^dims must be/);
    expect(with_("head-ablation", { correct: [1, 2, 3] })).toMatch(/^correct must be 4 finite numbers/);
    expect(with_("head-ablation", { probSum: [1, 2, 3, Infinity] })).toMatch(/^probSum must be/);
    expect(with_("head-ablation", { cases: -1 })).toMatch(/^cases must be an integer/);
    expect(with_("head-ablation", { boundaryFallbacks: 0.5 })).toMatch(/^boundaryFallbacks/);
    expect(with_("cna", { ablatedHead: { layer: 2, head: 0 } })).toMatch(
      /^ablatedHead must be a head .* 2-layer, 2-head/,
    );
    expect(with_("cna", { perCase: [{ caseId: 0, neurons: [6], scores: [1] }] })).toMatch(/^perCase/);
    expect(with_("cna", { perCase: [{ caseId: 0, neurons: [1], scores: [] }] })).toMatch(/^perCase/);
    expect(with_("attribution", { headSum: [1] })).toMatch(/^headSum must be 4 finite numbers/);
    expect(with_("verify", { mask: [1] })).toMatch(/^mask must be 2 finite numbers/);
    expect(with_("top-tokens", { cna: [{ layer: 0, neuron: 3, sign: 1, tokens: [] }] })).toMatch(/^cna must be/);
    expect(with_("top-tokens", { attribution: [{ layer: 0, neuron: 0, sign: 0, tokens: [] }] })).toMatch(
      /^attribution must be/,
    );
    expect(partialProblem({ ...GOOD.verify, kind: "nope" }, "nope")).toMatch(/is not a stage/);
  });
});
