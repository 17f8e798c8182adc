/**
 * Comparative Neuron Analysis (docs/method.md §4): every FFN neuron scored in the original
 * model and in the model with one head ablated, both with the original's frozen norm scale s and
 * target w; CNA = Imp_orig - Imp_ablated. Per case the top-K neurons are kept (with the case id)
 * and dense sums accumulate for the cell's means.
 */
import { topIndices } from "../../core/index.ts";
import type { CnaPartial } from "../../core/index.ts";
import type { ModelRunner } from "../onnx/runner.ts";
import { argmax, checkCases, checkHead, chunks, headMask, row } from "./common.ts";
import type { AnalysisCase, Progress } from "./common.ts";
import { NeuronScorer } from "./importance.ts";
import type { ImportanceOptions } from "./importance.ts";
import type { HeadRef } from "../../core/index.ts";

export type TargetRule = "predicted" | "correct";

/** What both of a batch's forward passes fetch (one graph variant for the two). */
export const CNA_FORWARD_OUTPUTS = ["logits", "resid_mid", "mlp_post", "final_scale"] as const;

export interface CnaOptions extends ImportanceOptions {
  head: HeadRef;
  /** neurons kept per case (default 100) */
  topK?: number;
  /** w = the original model's top-1 ("predicted", default) or the true answer ("correct") */
  target?: TargetRule;
  /** cases per batch (default 32) */
  maxBatchCases?: number;
  onProgress?: Progress;
}

/** Per-case scores, for callers that need more than the sums (verification, golden tests). */
export interface CnaCaseScores {
  caseId: number;
  /** [L * F] */
  impOrig: Float32Array;
  impAblated: Float32Array;
  cna: Float32Array;
  coefOrig: Float32Array;
  coefAblated: Float32Array;
}

export async function cna(
  runner: ModelRunner,
  cases: readonly AnalysisCase[],
  options: CnaOptions,
  onCase?: (scores: CnaCaseScores) => void,
): Promise<CnaPartial> {
  const shape = runner.shape;
  checkCases(cases, shape);
  checkHead(shape, options.head.layer, options.head.head);
  const { nLayer: L, nHead: H, dMlp: F, vocabSize: V } = shape;
  const topK = options.topK ?? 100;
  const n = L * F;
  const zeros = () => new Array<number>(n).fill(0);
  const p: CnaPartial = {
    kind: "cna",
    dims: { nLayer: L, nHead: H, dMlp: F },
    cases: cases.length,
    baselineCorrect: 0,
    ablatedHead: { ...options.head },
    topK: Math.min(topK, n),
    impOrigSum: zeros(),
    impAblatedSum: zeros(),
    cnaSum: zeros(),
    coefOrigSum: zeros(),
    coefAblatedSum: zeros(),
    topKCount: zeros(),
    perCase: [],
  };
  const scorer = new NeuronScorer(runner, options);
  let done = 0;
  for (const batch of chunks(cases, options.maxBatchCases ?? 32)) {
    const sequences = batch.map((c) => c.prefixIds);
    // Both passes ask for the same outputs, so they run one graph variant: a variant is a session,
    // and each session of a large model maps its weights again (the ablated pass's logits are unused).
    const orig = await runner.forward({ sequences, outputs: CNA_FORWARD_OUTPUTS });
    const abl = await runner.forward({
      sequences,
      outputs: CNA_FORWARD_OUTPUTS,
      headMask: headMask(
        shape,
        batch.map(() => options.head),
      ),
    });
    const predicted = batch.map((_, b) => argmax(row(orig.outputs.logits!, b, V)));
    batch.forEach((c, b) => {
      if (predicted[b] === c.target) p.baselineCorrect++;
    });
    const w = options.target === "correct" ? batch.map((c) => c.target) : predicted;
    const scale = orig.outputs.final_scale!;
    const impOrig = await scorer.score({
      batch: batch.length,
      residMid: orig.outputs.resid_mid!,
      mlpPost: orig.outputs.mlp_post!,
      scale,
      target: w,
    });
    const impAbl = await scorer.score({
      batch: batch.length,
      residMid: abl.outputs.resid_mid!,
      mlpPost: abl.outputs.mlp_post!,
      scale,
      target: w,
    });
    batch.forEach((c, b) => {
      const slice = (a: Float32Array) => a.subarray(b * n, (b + 1) * n);
      const io = slice(impOrig),
        ia = slice(impAbl),
        mo = slice(orig.outputs.mlp_post!),
        ma = slice(abl.outputs.mlp_post!);
      const score = new Float32Array(n);
      for (let j = 0; j < n; j++) {
        score[j] = io[j]! - ia[j]!;
        p.impOrigSum[j]! += io[j]!;
        p.impAblatedSum[j]! += ia[j]!;
        p.cnaSum[j]! += score[j]!;
        p.coefOrigSum[j]! += mo[j]!;
        p.coefAblatedSum[j]! += ma[j]!;
      }
      const top = topIndices(score, p.topK);
      for (const j of top) p.topKCount[j]!++;
      p.perCase.push({ caseId: c.id, neurons: top, scores: top.map((j) => score[j]!) });
      onCase?.({ caseId: c.id, impOrig: io, impAblated: ia, cna: score, coefOrig: mo, coefAblated: ma });
    });
    options.onProgress?.((done += batch.length), cases.length);
  }
  return p;
}
