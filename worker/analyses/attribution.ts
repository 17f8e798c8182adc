/**
 * Attribution (METHOD.md section 3) in the original model: every FFN neuron's log-probability
 * increase, plus attention-layer, FFN-layer and per-head importances, all with the frozen final
 * norm of the real forward pass.
 */
import { topIndices } from "../../core/index.ts";
import type { AttributionPartial } from "../../core/index.ts";
import type { ModelRunner } from "../onnx/runner.ts";
import { argmax, checkCases, chunks, row } from "./common.ts";
import type { AnalysisCase, Progress } from "./common.ts";
import type { TargetRule } from "./cna.ts";
import { NeuronScorer } from "./importance.ts";
import type { ImportanceOptions } from "./importance.ts";

export interface AttributionOptions extends ImportanceOptions {
  topK?: number;
  target?: TargetRule;
  maxBatchCases?: number;
  onProgress?: Progress;
}

export interface LayerScores {
  caseId: number;
  /** [L * F] */
  neurons: Float32Array;
  /** [L] */
  attnLayers: Float64Array;
  ffnLayers: Float64Array;
  /** [L * H] */
  heads: Float64Array;
}

export async function attribution(
  runner: ModelRunner, cases: readonly AnalysisCase[], options: AttributionOptions = {}, onCase?: (s: LayerScores) => void,
): Promise<AttributionPartial> {
  const shape = runner.shape;
  checkCases(cases, shape);
  const { nLayer: L, nHead: H, dMlp: F, dModel: D, vocabSize: V } = shape;
  const n = L * F;
  const p: AttributionPartial = {
    kind: "attribution", dims: { nLayer: L, nHead: H, dMlp: F }, cases: cases.length, baselineCorrect: 0,
    impSum: new Array(n).fill(0), topKCount: new Array(n).fill(0), topK: Math.min(options.topK ?? 100, n),
    attnLayerSum: new Array(L).fill(0), ffnLayerSum: new Array(L).fill(0), headSum: new Array(L * H).fill(0),
  };
  const scorer = new NeuronScorer(runner, options);
  let done = 0;
  for (const batch of chunks(cases, options.maxBatchCases ?? 32)) {
    const B = batch.length;
    const o = (await runner.forward({
      sequences: batch.map((c) => c.prefixIds),
      outputs: ["logits", "resid_pre", "resid_mid", "attn_out", "mlp_out", "mlp_post", "head_out", "final_scale"],
    })).outputs;
    const predicted = batch.map((_, b) => argmax(row(o.logits!, b, V)));
    batch.forEach((c, b) => { if (predicted[b] === c.target) p.baselineCorrect++; });
    const w = options.target === "correct" ? batch.map((c) => c.target) : predicted;
    const imp = await scorer.score({ batch: B, residMid: o.resid_mid!, mlpPost: o.mlp_post!, scale: o.final_scale!, target: w });

    // Per case and layer, the vectors whose log p(w) we need: x, x + A, x + head_h (H), r, r + F.
    const per = 4 + H;
    const vecs = new Float32Array(B * L * per * D);
    const at = (b: number, l: number, slot: number) => ((b * L + l) * per + slot) * D;
    for (let b = 0; b < B; b++) {
      for (let l = 0; l < L; l++) {
        const base = (b * L + l) * D;
        for (let d = 0; d < D; d++) {
          const x = o.resid_pre![base + d]!, r = o.resid_mid![base + d]!;
          vecs[at(b, l, 0) + d] = x;
          vecs[at(b, l, 1) + d] = x + o.attn_out![base + d]!;
          for (let h = 0; h < H; h++) vecs[at(b, l, 2 + h) + d] = x + o.head_out![((b * L + l) * H + h) * D + d]!;
          vecs[at(b, l, 2 + H) + d] = r;
          vecs[at(b, l, 3 + H) + d] = r + o.mlp_out![base + d]!;
        }
      }
    }
    const scales = new Float32Array(B * L * per);
    const targets: number[] = [];
    for (let b = 0; b < B; b++) for (let i = 0; i < L * per; i++) { scales[b * L * per + i] = o.final_scale![b]!; targets.push(w[b]!); }
    const lp = await scorer.logProb(vecs, scales, targets);
    batch.forEach((c, b) => {
      const s: LayerScores = { caseId: c.id, neurons: imp.subarray(b * n, (b + 1) * n), attnLayers: new Float64Array(L), ffnLayers: new Float64Array(L), heads: new Float64Array(L * H) };
      for (let l = 0; l < L; l++) {
        const k = (b * L + l) * per;
        s.attnLayers[l] = lp[k + 1]! - lp[k]!;
        for (let h = 0; h < H; h++) s.heads[l * H + h] = lp[k + 2 + h]! - lp[k]!;
        s.ffnLayers[l] = lp[k + 3 + H]! - lp[k + 2 + H]!;
        p.attnLayerSum[l]! += s.attnLayers[l]!;
        p.ffnLayerSum[l]! += s.ffnLayers[l]!;
        for (let h = 0; h < H; h++) p.headSum[l * H + h]! += s.heads[l * H + h]!;
      }
      for (let j = 0; j < n; j++) p.impSum[j]! += s.neurons[j]!;
      for (const j of topIndices(s.neurons, p.topK)) p.topKCount[j]!++;
      onCase?.(s);
    });
    options.onProgress?.((done += B), cases.length);
  }
  return p;
}
