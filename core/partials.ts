/**
 * Mergeable partial results (docs/method.md §7). Every analysis of a shard returns sums and
 * counts over its cases; merging is element-wise addition, so a cell may be split by cases in any
 * way. Merging in a fixed order (shard id) makes the final floats bit-identical however the
 * shards were run. Arrays are flat, row-major: [layer, head] and [layer, neuron]. The last stage
 * of a cell, top tokens, is over no cases: its partial lists what each listed neuron writes.
 */
import { SpecError } from "./errors.ts";
import type { HeadRef } from "./heads.ts";

export interface ModelDims {
  nLayer: number;
  nHead: number;
  dMlp: number;
}

/**
 * Per-pair counts any partial may carry. Each pair belongs to exactly one shard's range, so the
 * counts add up across shards like the sums do. Absent means 0, which keeps a cell without any
 * byte-identical to results from before the count existed.
 */
export interface PairCounts {
  /** Pairs whose answer tokens came from the boundary fallback of docs/method.md §1 (core/cases.ts). */
  boundaryFallbacks?: number;
}

export interface HeadAblationPartial extends PairCounts {
  kind: "head-ablation";
  dims: ModelDims;
  cases: number;
  baselineCorrect: number;
  baselineProbSum: number;
  /** [L * H] cases still correct with that head ablated */
  correct: number[];
  /** [L * H] sum over cases of the true answer's probability with that head ablated */
  probSum: number[];
}

export interface AttributionPartial extends PairCounts {
  kind: "attribution";
  dims: ModelDims;
  cases: number;
  baselineCorrect: number;
  /** [L * F] sum of Imp(l, k) */
  impSum: number[];
  /** [L * F] sum of the coefficient m(l, k); its sign picks what the neuron writes (docs/method.md §4) */
  coefSum: number[];
  /** [L * F] how many cases had the neuron in their top-K by importance */
  topKCount: number[];
  topK: number;
  /** [L] attention-layer and FFN-layer importance sums; [L * H] head importance sums */
  attnLayerSum: number[];
  ffnLayerSum: number[];
  headSum: number[];
}

export interface CaseTopK {
  caseId: number;
  /** flat neuron indices (layer * dMlp + neuron), best first */
  neurons: number[];
  scores: number[];
}

export interface CnaPartial extends PairCounts {
  kind: "cna";
  dims: ModelDims;
  cases: number;
  baselineCorrect: number;
  ablatedHead: HeadRef;
  topK: number;
  /** [L * F] sums over cases */
  impOrigSum: number[];
  impAblatedSum: number[];
  cnaSum: number[];
  coefOrigSum: number[];
  coefAblatedSum: number[];
  topKCount: number[];
  /** Each case's own top-K CNA neurons, kept for unions and verification. */
  perCase: CaseTopK[];
}

export interface VerifyPartial extends PairCounts {
  kind: "verify";
  dims: ModelDims;
  cases: number;
  ablatedHead: HeadRef;
  ks: number[];
  seed: number;
  baselineCorrect: number;
  /** correct counts per K, aligned with ks */
  mask: number[];
  keep: number[];
  random: number[];
}

/**
 * σ of docs/method.md §4: a neuron adds m · W_out[k] to the residual, so what it writes over the
 * cell's cases is the direction σ · W_out[k], with σ the sign of its mean coefficient m. Its
 * top tokens are those of W_U (g * c(σ · W_out[k])): for σ = -1 (common under SwiGLU, where m
 * is often negative) the bottom tokens of W_U (g * c(W_out[k])).
 */
export type TopTokensSign = 1 | -1;

/** A neuron a cell's rankings list, with its σ. */
export interface SignedNeuron {
  layer: number;
  neuron: number;
  sign: TopTokensSign;
}

/** The neurons a cell's rankings list, each list in ranked order: the top-tokens stage's input. */
export interface ListedNeurons {
  /** the CNA neurons, σ from coefOrigMean */
  cna: SignedNeuron[];
  /** the attribution neurons, σ from coefMean */
  attribution: SignedNeuron[];
}

export interface NeuronTokens extends SignedNeuron {
  /** what the neuron writes, best first */
  tokens: string[];
}

/**
 * The top-tokens stage (docs/method.md §4): what each neuron a cell's rankings list writes, in
 * the order of the shard's lists. It is over no cases; merging concatenates the lists in order,
 * so a cell's lists may be split over shards like its pairs are.
 */
export interface TopTokensPartial {
  kind: "top-tokens";
  dims: ModelDims;
  cna: NeuronTokens[];
  attribution: NeuronTokens[];
}

/** The partials of the stages that run over a cell's cases. */
export type CasePartial = HeadAblationPartial | AttributionPartial | CnaPartial | VerifyPartial;
export type AnyPartial = CasePartial | TopTokensPartial;

/** Cases a partial was computed over (none for top tokens). */
export const casesOf = (p: AnyPartial): number => (p.kind === "top-tokens" ? 0 : p.cases);

function addInto(into: number[], from: readonly number[], what: string): void {
  if (into.length !== from.length)
    throw new SpecError(what, `cannot merge ${what}: lengths ${into.length} and ${from.length} differ`);
  for (let i = 0; i < into.length; i++) into[i] = into[i]! + from[i]!;
}

function sameDims(a: ModelDims, b: ModelDims): void {
  if (a.nLayer !== b.nLayer || a.nHead !== b.nHead || a.dMlp !== b.dMlp) {
    throw new SpecError(
      "dims",
      `cannot merge partials of different model shapes (${JSON.stringify(a)} vs ${JSON.stringify(b)})`,
    );
  }
}

function sameHead(a: HeadRef, b: HeadRef): void {
  if (a.layer !== b.layer || a.head !== b.head) {
    throw new SpecError(
      "ablatedHead",
      `cannot merge partials with different ablated heads (${a.layer}.${a.head} vs ${b.layer}.${b.head})`,
    );
  }
}

const clone = <T>(p: T): T => structuredClone(p);

/** Adds `b` to a copy of `a`. Per-case lists are concatenated and kept in case order; top-token lists in the order given. */
export function mergePartials<P extends AnyPartial>(a: P, b: P): P {
  if (a.kind !== b.kind) throw new SpecError("kind", `cannot merge a ${a.kind} partial with a ${b.kind} partial`);
  sameDims(a.dims, b.dims);
  if (a.kind === "top-tokens") {
    const out = clone(a) as TopTokensPartial;
    const o = b as TopTokensPartial;
    out.cna.push(...clone(o.cna));
    out.attribution.push(...clone(o.attribution));
    return out as P;
  }
  const out = clone(a) as CasePartial;
  const other = b as CasePartial;
  out.cases += other.cases;
  out.baselineCorrect += other.baselineCorrect;
  withBoundaryFallbacks(out, (out.boundaryFallbacks ?? 0) + (other.boundaryFallbacks ?? 0));
  switch (out.kind) {
    case "head-ablation": {
      const o = b as HeadAblationPartial;
      out.baselineProbSum += o.baselineProbSum;
      addInto(out.correct, o.correct, "correct");
      addInto(out.probSum, o.probSum, "probSum");
      break;
    }
    case "attribution": {
      const o = b as AttributionPartial;
      if (out.topK !== o.topK)
        throw new SpecError("topK", `cannot merge attribution partials with top-K ${out.topK} and ${o.topK}`);
      for (const k of ["impSum", "coefSum", "topKCount", "attnLayerSum", "ffnLayerSum", "headSum"] as const)
        addInto(out[k], o[k], k);
      break;
    }
    case "cna": {
      const o = b as CnaPartial;
      sameHead(out.ablatedHead, o.ablatedHead);
      if (out.topK !== o.topK)
        throw new SpecError("topK", `cannot merge CNA partials with top-K ${out.topK} and ${o.topK}`);
      for (const k of ["impOrigSum", "impAblatedSum", "cnaSum", "coefOrigSum", "coefAblatedSum", "topKCount"] as const)
        addInto(out[k], o[k], k);
      out.perCase = [...out.perCase, ...o.perCase].sort((x, y) => x.caseId - y.caseId);
      break;
    }
    case "verify": {
      const o = b as VerifyPartial;
      sameHead(out.ablatedHead, o.ablatedHead);
      if (out.ks.join() !== o.ks.join() || out.seed !== o.seed)
        throw new SpecError("ks", "cannot merge verification partials with different K lists or seeds");
      for (const k of ["mask", "keep", "random"] as const) addInto(out[k], o[k], k);
      break;
    }
  }
  return out as P;
}

/** Sets a partial's `boundaryFallbacks` count, leaving the field out when it is 0. */
export function withBoundaryFallbacks<P extends CasePartial>(p: P, count: number): P {
  if (count > 0) p.boundaryFallbacks = count;
  else delete p.boundaryFallbacks;
  return p;
}

/** Merges in the order given (callers pass a fixed order, the pair ranges', for bit-identical results). */
export function mergeAll<P extends AnyPartial>(parts: readonly P[]): P {
  if (parts.length === 0) throw new SpecError("partials", "nothing to merge");
  return parts.slice(1).reduce((acc, p) => mergePartials(acc, p), clone(parts[0]!));
}
