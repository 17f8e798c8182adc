/**
 * One cell, one process: the analyses `cna analyze` runs, chained as docs/method.md describes (head
 * ablation finds the top head; CNA ablates it; verification uses each case's CNA neurons).
 */
import {
  LISTED_NEURONS,
  TOP_TOKENS,
  applyTopTokens,
  buildCellRankings,
  countBoundaryFallbacks,
  listedNeurons,
  rankHeads,
  withBoundaryFallbacks,
} from "../../core/index.ts";
import type { CellKey, CellPartials, CellRankings } from "../../core/index.ts";
import type { ModelRunner } from "../onnx/runner.ts";
import { attribution } from "./attribution.ts";
import { cna } from "./cna.ts";
import type { TargetRule } from "./cna.ts";
import type { AnalysisCase } from "./common.ts";
import { headAblation } from "./head-ablation.ts";
import type { ImportanceOptions } from "./importance.ts";
import { listedTopTokens } from "./tokens.ts";
import type { TokenDecoder } from "./tokens.ts";
import { DEFAULT_KS, DEFAULT_VERIFY_SEED, verify } from "./verify.ts";
import type { HeadRef } from "../../core/index.ts";

export const ANALYSES = ["head-ablation", "attribution", "cna", "verify"] as const;
export type AnalysisName = (typeof ANALYSES)[number];

export interface CellAnalysisOptions extends ImportanceOptions {
  analysis: AnalysisName;
  /** the head to ablate for cna/verify; default: the cell's top head from head ablation */
  head?: HeadRef;
  /** per-case top-K for CNA and attribution (default 100) */
  topK?: number;
  target?: TargetRule;
  ks?: readonly number[];
  seed?: number;
  /** neurons listed in the rankings (default 50) */
  topNeurons?: number;
  /** tokens shown per neuron (default 10) */
  topTokens?: number;
  maxBatchCases?: number;
  /** stage name and fraction done, for progress displays */
  onProgress?: (stage: string, done: number, total: number) => void;
}

export async function analyzeCell(
  runner: ModelRunner,
  tokenizer: TokenDecoder,
  key: CellKey,
  cases: readonly AnalysisCase[],
  o: CellAnalysisOptions,
): Promise<CellRankings> {
  const progress = (stage: string) => (done: number, total: number) => o.onProgress?.(stage, done, total);
  const parts: CellPartials = {};
  const common = { ...o, onProgress: undefined };
  let head = o.head;
  if (o.analysis === "head-ablation" || ((o.analysis === "cna" || o.analysis === "verify") && !head)) {
    parts.headAblation = await headAblation(runner, cases, { onProgress: progress("head-ablation") });
    const top = rankHeads(parts.headAblation)[0]!;
    head ??= { layer: top.layer, head: top.head };
  }
  if (o.analysis === "attribution") {
    parts.attribution = await attribution(runner, cases, { ...common, onProgress: progress("attribution") });
  }
  if (o.analysis === "cna" || o.analysis === "verify") {
    const ks = o.ks ?? DEFAULT_KS;
    parts.cna = await cna(runner, cases, {
      ...common,
      head: head!,
      topK: Math.max(o.topK ?? 100, ...(o.analysis === "verify" ? ks : [])),
      onProgress: progress("cna"),
    });
    if (o.analysis === "verify") {
      parts.verify = await verify(runner, cases, {
        ...common,
        head: head!,
        ks,
        seed: o.seed ?? DEFAULT_VERIFY_SEED,
        perCase: parts.cna.perCase,
        onProgress: progress("verify"),
      });
    }
  }
  const fallbacks = countBoundaryFallbacks(cases);
  for (const part of Object.values(parts)) withBoundaryFallbacks(part, fallbacks);
  const cell = buildCellRankings(key, parts, o.topNeurons ?? LISTED_NEURONS);
  await addTopTokens(runner, tokenizer, cell, o.topTokens ?? TOP_TOKENS);
  return cell;
}

/** Fills `topTokens` and `topTokensSign` of every neuron a cell lists, as a sweep's top-tokens stage does. */
export async function addTopTokens(
  runner: ModelRunner,
  tokenizer: TokenDecoder,
  cell: CellRankings,
  count: number,
): Promise<void> {
  applyTopTokens(cell, await listedTopTokens(runner, tokenizer, listedNeurons(cell), count));
}
