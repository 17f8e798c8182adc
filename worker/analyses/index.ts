/**
 * worker/analyses — docs/method.md's analyses over a cell's cases, each returning a mergeable
 * partial (core/partials.ts): head ablation, attribution, CNA, verification, and what the
 * neurons a cell lists write (top tokens).
 *
 * @example
 * ```ts
 * const partial = await headAblation(runner, cases);               // every head, packed masks
 * const top = rankHeads(partial)[0];
 * const c = await cna(runner, cases, { head: top, topK: 100 });    // top head ablated
 * const v = await verify(runner, cases, { head: top, perCase: c.perCase });
 * ```
 */
export { headAblation, paperForward } from "./head-ablation.ts";
export type { HeadAblationMode, HeadAblationOptions } from "./head-ablation.ts";
export { NeuronScorer, defaultUBudgetBytes, resolveImportanceOptions } from "./importance.ts";
export type {
  ImportanceInputs,
  ImportanceKernel,
  ImportanceMethod,
  ImportanceOptions,
  KernelCounts,
  ResolvedImportanceOptions,
} from "./importance.ts";
export { attribution } from "./attribution.ts";
export type { AttributionOptions, LayerScores } from "./attribution.ts";
export { CNA_FORWARD_OUTPUTS, cna } from "./cna.ts";
export type { CnaCaseScores, CnaOptions, TargetRule } from "./cna.ts";
export { DEFAULT_KS, DEFAULT_VERIFY_SEED, verify } from "./verify.ts";
export type { VerifyOptions } from "./verify.ts";
export { listedTopTokens, neuronTopTokens, tokenString } from "./tokens.ts";
export type { TokenDecoder } from "./tokens.ts";
export { ANALYSES, addTopTokens, analyzeCell } from "./cell.ts";
export type { AnalysisName, CellAnalysisOptions } from "./cell.ts";
export type { AnalysisCase, Progress } from "./common.ts";
