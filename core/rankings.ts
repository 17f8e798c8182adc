/**
 * Rankings derived from merged partials: the `rankings.json` contract of docs/architecture.md, documented by
 * schemas/rankings.schema.json. Pure functions of the sums, so the same partials always give the
 * same bytes.
 */
import type {
  AttributionPartial,
  CnaPartial,
  HeadAblationPartial,
  ListedNeurons,
  TopTokensPartial,
  TopTokensSign,
  VerifyPartial,
} from "./partials.ts";
import type { DigitRange, Operator, TemplateId } from "./tasks.ts";
import type { HeadRef } from "./heads.ts";

export const RANKINGS_SCHEMA = "cna-sweep/rankings@1";

/** Neurons each list of a cell's rankings holds (by mean CNA score, by mean importance). */
export const LISTED_NEURONS = 50;
/** Tokens shown per listed neuron (docs/method.md §4). */
export const TOP_TOKENS = 10;

export interface CellKey {
  model: string;
  op: Operator;
  digits: DigitRange;
  template: TemplateId;
}

export interface HeadRank {
  layer: number;
  head: number;
  accuracy: number;
  accuracyDrop: number;
  relativeDrop: number;
  meanProbCorrect: number;
}

export interface NeuronRank {
  layer: number;
  neuron: number;
  cnaMean: number;
  impOrigMean: number;
  impAblatedMean: number;
  coefOrigMean: number;
  coefAblatedMean: number;
  /** mean of m - m' (original minus ablated coefficient) */
  coefDeltaMean: number;
  topKCount: number;
  /** What the neuron writes, best first (see {@link TopTokensSign}); filled by the cell's top-tokens stage. */
  topTokens?: string[];
  /** σ of `topTokens`: the sign of coefOrigMean; set with `topTokens`. */
  topTokensSign?: TopTokensSign;
}

export interface ImportanceRank {
  layer: number;
  neuron: number;
  impMean: number;
  /** mean coefficient m over the cell's cases */
  coefMean: number;
  topKCount: number;
  /** What the neuron writes, best first (see {@link TopTokensSign}); filled by the cell's top-tokens stage. */
  topTokens?: string[];
  /** σ of `topTokens`: the sign of coefMean; set with `topTokens`. */
  topTokensSign?: TopTokensSign;
}

/** σ for a mean coefficient (see {@link TopTokensSign}): -1 when it is negative, +1 otherwise (a mean of exactly 0 gives +1). */
export const coefSign = (coefMean: number): TopTokensSign => (coefMean < 0 ? -1 : 1);

export interface AttributionRankings {
  topK: number;
  neurons: ImportanceRank[];
  attnLayers: Array<{ layer: number; impMean: number }>;
  ffnLayers: Array<{ layer: number; impMean: number }>;
  heads: Array<{ layer: number; head: number; impMean: number }>;
}

export interface VerificationPoint {
  k: number;
  accuracy: number;
  relativeDecrease: number;
}

export interface VerificationRankings {
  seed: number;
  mask: VerificationPoint[];
  keep: VerificationPoint[];
  random: VerificationPoint[];
}

/**
 * What the cell's head ranking rests on (see {@link headRankingBasis}):
 * - "accuracy": the top head's ablation changes at least {@link NOISE_CASES} cases to wrong;
 * - "within-noise": it changes fewer: a drop that small is not told apart from none;
 * - "meanProbCorrect-only": it changes none (every head ties on accuracy, e.g. a 0 % baseline):
 *   the order is the tie-break on mean probability alone.
 */
export type HeadRankingBasis = "accuracy" | "within-noise" | "meanProbCorrect-only";

/**
 * Fewest cases the top head must turn wrong for its drop to count. Clean and ablated runs see
 * the same cases, so the drop is a paired count: with k cases turned wrong and none turned
 * right, an exact two-sided sign (McNemar) test gives p = 2 · 0.5^k, which is ≤ 0.05 only from
 * k = 6. Any other mix of changes needs a larger drop still.
 */
export const NOISE_CASES = 6;

export function headRankingBasis(p: HeadAblationPartial, top: HeadRank): HeadRankingBasis {
  const droppedCases = p.baselineCorrect - p.correct[top.layer * p.dims.nHead + top.head]!;
  return droppedCases <= 0 ? "meanProbCorrect-only" : droppedCases < NOISE_CASES ? "within-noise" : "accuracy";
}

export interface CellRankings extends CellKey {
  cases: number;
  baselineAccuracy: number;
  /** pairs whose answer tokens came from the boundary fallback (docs/method.md §1); absent when none */
  boundaryFallbacks?: number;
  heads?: HeadRank[];
  /** what the head ranking rests on; anything but "accuracy" means rank 1 is no finding */
  headRankingBasis?: HeadRankingBasis;
  ablatedHead?: HeadRef;
  /** total FFN neurons of the model; `neurons` lists the top ones */
  neuronCount?: number;
  neurons?: NeuronRank[];
  attribution?: AttributionRankings;
  verification?: VerificationRankings;
}

export interface Rankings {
  schema: typeof RANKINGS_SCHEMA;
  cells: CellRankings[];
}

/** a / b, or 0 when b is 0 (docs/method.md §6: a zero baseline gives a zero relative drop). */
export const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/** Every head, ranked: accuracy after ablation ascending, then mean probability, then (layer, head). */
export function rankHeads(p: HeadAblationPartial): HeadRank[] {
  const base = ratio(p.baselineCorrect, p.cases);
  const heads: HeadRank[] = [];
  for (let l = 0; l < p.dims.nLayer; l++) {
    for (let h = 0; h < p.dims.nHead; h++) {
      const i = l * p.dims.nHead + h;
      const accuracy = ratio(p.correct[i]!, p.cases);
      heads.push({
        layer: l,
        head: h,
        accuracy,
        accuracyDrop: base - accuracy,
        relativeDrop: ratio(base - accuracy, base),
        meanProbCorrect: ratio(p.probSum[i]!, p.cases),
      });
    }
  }
  return heads.sort(
    (a, b) => a.accuracy - b.accuracy || a.meanProbCorrect - b.meanProbCorrect || a.layer - b.layer || a.head - b.head,
  );
}

/** Flat indices of the `top` largest values, ties by lower index. */
export function topIndices(values: ArrayLike<number>, top: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b]! - values[a]! || a - b);
  return idx.slice(0, top);
}

/** The top neurons by mean CNA score (ties by (layer, neuron)). */
export function rankCnaNeurons(p: CnaPartial, top: number): NeuronRank[] {
  const F = p.dims.dMlp;
  const n = Math.max(p.cases, 1);
  return topIndices(p.cnaSum, top).map((j) => ({
    layer: Math.floor(j / F),
    neuron: j % F,
    cnaMean: p.cnaSum[j]! / n,
    impOrigMean: p.impOrigSum[j]! / n,
    impAblatedMean: p.impAblatedSum[j]! / n,
    coefOrigMean: p.coefOrigSum[j]! / n,
    coefAblatedMean: p.coefAblatedSum[j]! / n,
    coefDeltaMean: (p.coefOrigSum[j]! - p.coefAblatedSum[j]!) / n,
    topKCount: p.topKCount[j]!,
  }));
}

export function rankAttribution(p: AttributionPartial, top: number): AttributionRankings {
  const { nLayer: L, nHead: H, dMlp: F } = p.dims;
  const n = Math.max(p.cases, 1);
  const byImp = <T extends { impMean: number }>(a: T[]) => a.sort((x, y) => y.impMean - x.impMean);
  return {
    topK: p.topK,
    neurons: topIndices(p.impSum, top).map((j) => ({
      layer: Math.floor(j / F),
      neuron: j % F,
      impMean: p.impSum[j]! / n,
      coefMean: p.coefSum[j]! / n,
      topKCount: p.topKCount[j]!,
    })),
    attnLayers: byImp(p.attnLayerSum.map((s, layer) => ({ layer, impMean: s / n }))),
    ffnLayers: byImp(p.ffnLayerSum.map((s, layer) => ({ layer, impMean: s / n }))),
    heads: byImp(
      Array.from({ length: L * H }, (_, i) => ({ layer: Math.floor(i / H), head: i % H, impMean: p.headSum[i]! / n })),
    ),
  };
}

export function rankVerification(p: VerifyPartial): VerificationRankings {
  const base = ratio(p.baselineCorrect, p.cases);
  const points = (correct: number[]) =>
    p.ks.map((k, i) => {
      const accuracy = ratio(correct[i]!, p.cases);
      return { k, accuracy, relativeDecrease: ratio(base - accuracy, base) };
    });
  return { seed: p.seed, mask: points(p.mask), keep: points(p.keep), random: points(p.random) };
}

/** The merged partials of one cell, any subset. */
export interface CellPartials {
  headAblation?: HeadAblationPartial;
  cna?: CnaPartial;
  attribution?: AttributionPartial;
  verify?: VerifyPartial;
}

/** One cell of rankings.json from its merged partials; `topNeurons` bounds the neuron lists. */
export function buildCellRankings(key: CellKey, parts: CellPartials, topNeurons = LISTED_NEURONS): CellRankings {
  const first = parts.headAblation ?? parts.cna ?? parts.attribution ?? parts.verify;
  if (!first) throw new RangeError(`cell ${key.model} ${key.op} ${key.digits}D t${key.template}: no results to rank`);
  const cell: CellRankings = {
    model: key.model,
    op: key.op,
    digits: key.digits,
    template: key.template,
    cases: first.cases,
    baselineAccuracy: ratio(first.baselineCorrect, first.cases),
  };
  // Every stage of a cell runs over the same pairs, so any one of them holds the cell's count.
  if (first.boundaryFallbacks) cell.boundaryFallbacks = first.boundaryFallbacks;
  if (parts.headAblation) {
    cell.heads = rankHeads(parts.headAblation);
    if (cell.heads.length > 0) cell.headRankingBasis = headRankingBasis(parts.headAblation, cell.heads[0]!);
  }
  if (parts.cna) {
    cell.ablatedHead = { ...parts.cna.ablatedHead };
    cell.neuronCount = parts.cna.dims.nLayer * parts.cna.dims.dMlp;
    cell.neurons = rankCnaNeurons(parts.cna, topNeurons);
  }
  if (parts.attribution) {
    cell.neuronCount ??= parts.attribution.dims.nLayer * parts.attribution.dims.dMlp;
    cell.attribution = rankAttribution(parts.attribution, topNeurons);
  }
  if (parts.verify) {
    cell.ablatedHead ??= { ...parts.verify.ablatedHead };
    cell.verification = rankVerification(parts.verify);
  }
  return cell;
}

/** The neurons a cell lists, each with σ from its mean coefficient: what its top-tokens stage computes tokens for. */
export function listedNeurons(cell: CellRankings): ListedNeurons {
  return {
    cna: (cell.neurons ?? []).map((n) => ({ layer: n.layer, neuron: n.neuron, sign: coefSign(n.coefOrigMean) })),
    attribution: (cell.attribution?.neurons ?? []).map((n) => ({
      layer: n.layer,
      neuron: n.neuron,
      sign: coefSign(n.coefMean),
    })),
  };
}

/**
 * Fills `topTokens` and `topTokensSign` of each neuron the cell lists from a top-tokens partial,
 * matched by (layer, neuron) within each list; a neuron the partial does not name is left as it is.
 */
export function applyTopTokens(cell: CellRankings, p: TopTokensPartial): CellRankings {
  const fill = (list: ReadonlyArray<NeuronRank | ImportanceRank>, written: TopTokensPartial["cna"]) => {
    const byNeuron = new Map(written.map((w) => [`${w.layer}_${w.neuron}`, w]));
    for (const n of list) {
      const w = byNeuron.get(`${n.layer}_${n.neuron}`);
      if (!w) continue;
      n.topTokens = [...w.tokens];
      n.topTokensSign = w.sign;
    }
  };
  fill(cell.neurons ?? [], p.cna);
  fill(cell.attribution?.neurons ?? [], p.attribution);
  return cell;
}
