/**
 * Synthetic rankings for the report's tests: cells of a model with every head ranked as core
 * ranks them, a chosen top head, CNA neurons and verification curves.
 */
import { RANKINGS_SCHEMA } from "../../core/index.ts";
import type { CellRankings, HeadRank, Operator, Rankings } from "../../core/index.ts";

/** Heads of an L × H model with the given relative drops (by flat index), ranked as core does. */
export function rankedHeads(L: number, H: number, drop: (l: number, h: number) => number): HeadRank[] {
  const base = 0.8;
  const out: HeadRank[] = [];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const relativeDrop = drop(l, h);
      const accuracy = base * (1 - relativeDrop);
      out.push({
        layer: l,
        head: h,
        accuracy,
        accuracyDrop: base - accuracy,
        relativeDrop,
        meanProbCorrect: accuracy / 2,
      });
    }
  }
  return out.sort(
    (a, b) => a.accuracy - b.accuracy || a.meanProbCorrect - b.meanProbCorrect || a.layer - b.layer || a.head - b.head,
  );
}

export function fullCell(model: string, op: Operator, L: number, H: number, top: [number, number]): CellRankings {
  const hs = rankedHeads(L, H, (l, h) => (l === top[0] && h === top[1] ? 0.625 : ((l * H + h) % 5) / 40 - 0.01));
  return {
    model,
    op,
    digits: 1,
    template: 4,
    cases: 145,
    baselineAccuracy: 0.8,
    heads: hs,
    ablatedHead: { layer: hs[0]!.layer, head: hs[0]!.head },
    neuronCount: L * 64,
    neurons: [0, 1, 2].map((i) => ({
      layer: L - 1,
      neuron: 7 * i,
      cnaMean: 0.5 / (i + 1),
      impOrigMean: 0.7 / (i + 1),
      impAblatedMean: 0.2 / (i + 1),
      coefOrigMean: -6.2 + 4 * i,
      coefAblatedMean: -0.95,
      coefDeltaMean: -5.25 + 4 * i,
      topKCount: 100 - i,
      topTokens: ["8", " eight", "VIII"],
      topTokensSign: -6.2 + 4 * i < 0 ? (-1 as const) : (1 as const),
    })),
    verification: {
      seed: 1234,
      mask: [10, 99].map((k, i) => ({ k, accuracy: 0.3 - 0.3 * i, relativeDecrease: 0.625 + 0.375 * i })),
      keep: [10, 99].map((k, i) => ({ k, accuracy: 0.7, relativeDecrease: 0.125 + 0 * i })),
      random: [10, 99].map((k, i) => ({ k, accuracy: 0.79, relativeDecrease: 0.0125 * (i + 1) })),
    },
  };
}

export const rankings = (cells: CellRankings[]): Rankings => ({ schema: RANKINGS_SCHEMA, cells });
