/**
 * A rankings.json shaped like `cna demo`'s (head ablation → CNA → verification at Ks
 * 10, 20, 30, 50, 99, top tokens filled), small enough to read: two models × two operators, 2 × 2
 * heads, three neurons a cell. One cell has a 0 % baseline, so its top head is no finding; one
 * neuron writes tokens with a comma, a quote and a line break, which CSV must quote.
 */
import { RANKINGS_SCHEMA } from "../../core/index.ts";
import type { CellRankings, HeadRank, Operator, Rankings, VerificationPoint } from "../../core/index.ts";

export const TRICKY_TOKENS = ["a,b", 'say "hi"', "two\nlines", " 7"];

const KS = [10, 20, 30, 50, 99];

function heads(base: number, drops: number[]): HeadRank[] {
  return drops
    .map((drop, i) => {
      const accuracy = base - drop;
      return {
        layer: Math.floor(i / 2),
        head: i % 2,
        accuracy,
        accuracyDrop: drop,
        relativeDrop: base === 0 ? 0 : drop / base,
        meanProbCorrect: accuracy / 3 + i / 1000,
      };
    })
    .sort((a, b) => a.accuracy - b.accuracy || a.meanProbCorrect - b.meanProbCorrect);
}

const points = (base: number, decrease: (k: number) => number): VerificationPoint[] =>
  KS.map((k) => ({ k, accuracy: base * (1 - decrease(k)), relativeDecrease: decrease(k) }));

function cell(model: string, op: Operator, base: number, tokens: string[]): CellRankings {
  const hs = heads(base, base === 0 ? [0, 0, 0, 0] : [0.01, 0.63, 0.07, 0.2]);
  return {
    model,
    op,
    digits: 1,
    template: 4,
    cases: 100,
    baselineAccuracy: base,
    heads: hs,
    headRankingBasis: base === 0 ? "meanProbCorrect-only" : "accuracy",
    ablatedHead: { layer: hs[0]!.layer, head: hs[0]!.head },
    neuronCount: 512,
    neurons: [0, 1, 2].map((i) => ({
      layer: 1,
      neuron: 100 + 37 * i,
      cnaMean: 0.4123456789 / (i + 1),
      impOrigMean: 0.6 / (i + 1),
      impAblatedMean: 0.1876543211 / (i + 1),
      coefOrigMean: i === 1 ? 2.5 : -3.25,
      coefAblatedMean: -0.5,
      coefDeltaMean: i === 1 ? 3 : -2.75,
      topKCount: 90 - i,
      topTokens: i === 0 ? tokens : ["8", "9"],
      topTokensSign: i === 1 ? 1 : -1,
    })),
    verification: {
      seed: 1234,
      mask: points(base, (k) => Math.min(1, k / 100 + 0.3)),
      keep: points(base, (k) => 0.5 - k / 400),
      random: points(base, (k) => k / 1000),
    },
  };
}

export function demoLikeRankings(): Rankings {
  return {
    schema: RANKINGS_SCHEMA,
    cells: [
      cell("arith-2l-d64", "+", 0.98, TRICKY_TOKENS),
      cell("arith-2l-d64", "-", 0.875, ["3"]),
      cell("arith-qwen2-4l-d64", "+", 0.99, ["1", "2"]),
      cell("arith-qwen2-4l-d64", "*", 0, ["0"]),
    ],
  };
}
