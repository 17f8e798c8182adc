/**
 * The top-tokens stage, without a model: which cells end with it, its one shard per cell and what
 * that shard carries (the neurons the cell lists, each with σ), how its partials merge, and how
 * its result fills the rankings.
 */
import { describe, expect, it } from "vitest";
import { cellStages, expectedStageShards, planStage, plannedShardCount } from "../../coordinator/index.ts";
import type { PlanSpec } from "../../coordinator/index.ts";
import { TOP_TOKENS, applyTopTokens, casesOf, listedNeurons, mergeAll, mergePartials } from "../../core/index.ts";
import type { CellRankings, StageName, TopTokensPartial } from "../../core/index.ts";

function plan(stages: StageName[]): PlanSpec {
  return {
    sweepId: "s",
    stages,
    sample: 100,
    casesSeed: 0,
    pairsPerShard: 32,
    topK: 20,
    target: "predicted",
    ks: [10],
    verifySeed: 1,
    models: { m: { digest: "d".repeat(64), files: {} } },
    cells: (["+", "*"] as const).map((op) => ({
      key: { model: "m", op, digits: 1 as const, template: 4 as const },
      modelPath: "/models/m",
    })),
  };
}

const cell = (): CellRankings => ({
  model: "m",
  op: "+",
  digits: 1,
  template: 4,
  cases: 10,
  baselineAccuracy: 1,
  neurons: [
    {
      layer: 1,
      neuron: 3,
      cnaMean: 0.5,
      impOrigMean: 0.6,
      impAblatedMean: 0.1,
      coefOrigMean: -2,
      coefAblatedMean: -1,
      coefDeltaMean: -1,
      topKCount: 9,
    },
    {
      layer: 0,
      neuron: 7,
      cnaMean: 0.2,
      impOrigMean: 0.3,
      impAblatedMean: 0.1,
      coefOrigMean: 0,
      coefAblatedMean: 0,
      coefDeltaMean: 0,
      topKCount: 4,
    },
  ],
  attribution: {
    topK: 20,
    neurons: [{ layer: 0, neuron: 7, impMean: 0.4, coefMean: 1.5, topKCount: 6 }],
    attnLayers: [],
    ffnLayers: [],
    heads: [],
  },
});

const dims = { nLayer: 2, nHead: 2, dMlp: 8 };

describe("the top-tokens stage", () => {
  it("ends every cell whose rankings list neurons, and only those", () => {
    expect(cellStages(plan(["head-ablation", "cna", "verify"]))).toEqual([
      "head-ablation",
      "cna",
      "verify",
      "top-tokens",
    ]);
    expect(cellStages(plan(["attribution"]))).toEqual(["attribution", "top-tokens"]);
    expect(cellStages(plan(["head-ablation"]))).toEqual(["head-ablation"]);
  });

  it("has one shard per cell, counted in the plan", () => {
    const p = plan(["head-ablation", "cna"]);
    // 100 pairs in 32s: 4 shards per cell and stage
    expect(expectedStageShards(p, "cna")).toBe(8);
    expect(expectedStageShards(p, "top-tokens")).toBe(2);
    expect(plannedShardCount(p)).toBe(8 + 8 + 2);
    expect(plannedShardCount(plan(["head-ablation"]))).toBe(8);
  });

  it("carries the neurons the cell lists, each with σ, over the cell's whole pair range", () => {
    const p = plan(["head-ablation", "attribution", "cna"]);
    expect(() => planStage(p, p.cells[0]!, "top-tokens")).toThrow(/planned without the neurons it lists/);
    const listed = listedNeurons(cell());
    // σ: the sign of the mean coefficient, +1 for exactly 0
    expect(listed).toEqual({
      cna: [
        { layer: 1, neuron: 3, sign: -1 },
        { layer: 0, neuron: 7, sign: 1 },
      ],
      attribution: [{ layer: 0, neuron: 7, sign: 1 }],
    });
    const shards = planStage(p, p.cells[0]!, "top-tokens", { listed });
    expect(shards).toHaveLength(1);
    expect(shards[0]!.task).toMatchObject({
      stage: "top-tokens",
      pairs: { start: 0, end: 100 },
      listed,
      tokenCount: TOP_TOKENS,
    });
    expect(shards[0]!.task.head).toBeUndefined();
    const other = planStage(p, p.cells[0]!, "top-tokens", { listed: { ...listed, attribution: [] } });
    expect(other[0]!.id).not.toBe(shards[0]!.id);
  });

  it("merges by concatenating its lists in order, over no cases", () => {
    const a: TopTokensPartial = {
      kind: "top-tokens",
      dims,
      cna: [{ layer: 1, neuron: 3, sign: -1, tokens: ["8"] }],
      attribution: [],
    };
    const b: TopTokensPartial = {
      kind: "top-tokens",
      dims,
      cna: [{ layer: 0, neuron: 7, sign: 1, tokens: ["="] }],
      attribution: [{ layer: 0, neuron: 7, sign: 1, tokens: ["="] }],
    };
    const merged = mergePartials(a, b);
    expect(merged.cna.map((n) => `${n.layer}_${n.neuron}`)).toEqual(["1_3", "0_7"]);
    expect(merged.attribution).toHaveLength(1);
    expect(a.cna).toHaveLength(1); // inputs untouched
    expect(mergeAll([a])).toEqual(a);
    expect(casesOf(merged)).toBe(0);
    expect(() => mergePartials(a, { ...b, dims: { ...dims, dMlp: 16 } })).toThrow(/different model shapes/);
  });

  it("fills the rankings' topTokens and topTokensSign by (layer, neuron), leaving a neuron it does not name as it is", () => {
    const c = cell();
    applyTopTokens(c, {
      kind: "top-tokens",
      dims,
      cna: [{ layer: 1, neuron: 3, sign: -1, tokens: ["8", " eight"] }],
      attribution: [{ layer: 0, neuron: 7, sign: 1, tokens: ["="] }],
    });
    expect(c.neurons![0]).toMatchObject({ topTokens: ["8", " eight"], topTokensSign: -1 });
    expect(Object.keys(c.neurons![0]!).slice(-2)).toEqual(["topTokens", "topTokensSign"]);
    expect(c.neurons![1]!.topTokens).toBeUndefined();
    expect(c.attribution!.neurons[0]).toMatchObject({ topTokens: ["="], topTokensSign: 1 });
  });
});
