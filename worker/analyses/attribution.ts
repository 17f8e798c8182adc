/**
 * Attribution (docs/method.md §3) in the original model: every FFN neuron's log-probability
 * increase, plus attention-layer, FFN-layer and per-head importances, all with the frozen final
 * norm of the real forward pass.
 */
import { topIndices } from "../../core/index.ts";
import type { AttributionPartial } from "../../core/index.ts";
import { EngineInputError } from "../onnx/errors.ts";
import type { ModelRunner } from "../onnx/runner.ts";
import { argmax, checkCases, chunks, row } from "./common.ts";
import type { AnalysisCase, Progress } from "./common.ts";
import type { TargetRule } from "./cna.ts";
import { NeuronScorer } from "./importance.ts";
import type { ImportanceOptions } from "./importance.ts";

export interface AttributionOptions extends ImportanceOptions {
  topK?: number;
  target?: TargetRule;
  /** cases per forward pass (default 32) */
  maxBatchCases?: number;
  /** cases per neuron-scoring call, gathered over forward passes (default 128) */
  scoreBatchCases?: number;
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

/** One forward batch's activations, waiting for its neuron scores. */
interface PendingBatch {
  residMid: Float32Array;
  mlpPost: Float32Array;
  scale: Float32Array;
  target: number[];
  scores: LayerScores[];
}

export async function attribution(
  runner: ModelRunner,
  cases: readonly AnalysisCase[],
  options: AttributionOptions = {},
  onCase?: (s: LayerScores) => void,
): Promise<AttributionPartial> {
  const shape = runner.shape;
  checkCases(cases, shape);
  const { nLayer: L, nHead: H, dMlp: F, dModel: D, vocabSize: V } = shape;
  const n = L * F;
  const p: AttributionPartial = {
    kind: "attribution",
    dims: { nLayer: L, nHead: H, dMlp: F },
    cases: cases.length,
    baselineCorrect: 0,
    impSum: new Array<number>(n).fill(0),
    coefSum: new Array<number>(n).fill(0),
    topKCount: new Array<number>(n).fill(0),
    topK: Math.min(options.topK ?? 100, n),
    attnLayerSum: new Array<number>(L).fill(0),
    ffnLayerSum: new Array<number>(L).fill(0),
    headSum: new Array<number>(L * H).fill(0),
  };
  const scorer = new NeuronScorer(runner, options);
  // Neuron scores wait for scoreBatchCases cases: a score() call pays per layer for U's
  // powers (and, when U is chunked, for U itself) whatever its batch, so bigger batches are cheaper per case.
  const scoreBatch = options.scoreBatchCases ?? 128;
  if (!Number.isInteger(scoreBatch) || scoreBatch < 1)
    throw new EngineInputError("scoreBatchCases", `scoreBatchCases must be a positive integer, got ${scoreBatch}`);
  let pending: PendingBatch[] = [];
  let pendingCases = 0;
  let done = 0;
  const flush = async () => {
    const B = pendingCases;
    const residMid = new Float32Array(B * L * D);
    const mlpPost = new Float32Array(B * n);
    const scale = new Float32Array(B);
    const target: number[] = [];
    let at = 0;
    for (const pb of pending) {
      residMid.set(pb.residMid, at * L * D);
      mlpPost.set(pb.mlpPost, at * n);
      scale.set(pb.scale, at);
      target.push(...pb.target);
      at += pb.scores.length;
    }
    const imp = await scorer.score({ batch: B, residMid, mlpPost, scale, target });
    pending
      .flatMap((pb) => pb.scores)
      .forEach((s, b) => {
        s.neurons = imp.subarray(b * n, (b + 1) * n);
        for (let j = 0; j < n; j++) p.impSum[j]! += s.neurons[j]!;
        for (const j of topIndices(s.neurons, p.topK)) p.topKCount[j]!++;
        onCase?.(s);
      });
    pending = [];
    pendingCases = 0;
    options.onProgress?.((done += B), cases.length);
  };
  for (const batch of chunks(cases, options.maxBatchCases ?? 32)) {
    const B = batch.length;
    const o = (
      await runner.forward({
        sequences: batch.map((c) => c.prefixIds),
        outputs: ["logits", "resid_pre", "resid_mid", "attn_out", "mlp_out", "mlp_post", "head_out", "final_scale"],
      })
    ).outputs;
    const predicted = batch.map((_, b) => argmax(row(o.logits!, b, V)));
    batch.forEach((c, b) => {
      if (predicted[b] === c.target) p.baselineCorrect++;
    });
    // mlp_post: [B, L, F], summed case by case in case order like CNA's coefOrigSum.
    for (let b = 0; b < B; b++) for (let j = 0; j < n; j++) p.coefSum[j]! += o.mlp_post![b * n + j]!;
    const w = options.target === "correct" ? batch.map((c) => c.target) : predicted;

    // Per case and layer, the vectors whose log p(w) we need: x, x + A, x + head_h (H), r, r + F.
    const per = 4 + H;
    const vecs = new Float32Array(B * L * per * D);
    const at = (b: number, l: number, slot: number) => ((b * L + l) * per + slot) * D;
    for (let b = 0; b < B; b++) {
      for (let l = 0; l < L; l++) {
        const base = (b * L + l) * D;
        for (let d = 0; d < D; d++) {
          const x = o.resid_pre![base + d]!,
            r = o.resid_mid![base + d]!;
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
    for (let b = 0; b < B; b++)
      for (let i = 0; i < L * per; i++) {
        scales[b * L * per + i] = o.final_scale![b]!;
        targets.push(w[b]!);
      }
    const lp = await scorer.logProb(vecs, scales, targets);
    const scores = batch.map((c, b): LayerScores => {
      const s: LayerScores = {
        caseId: c.id,
        neurons: new Float32Array(0),
        attnLayers: new Float64Array(L),
        ffnLayers: new Float64Array(L),
        heads: new Float64Array(L * H),
      };
      for (let l = 0; l < L; l++) {
        const k = (b * L + l) * per;
        s.attnLayers[l] = lp[k + 1]! - lp[k]!;
        for (let h = 0; h < H; h++) s.heads[l * H + h] = lp[k + 2 + h]! - lp[k]!;
        s.ffnLayers[l] = lp[k + 3 + H]! - lp[k + 2 + H]!;
        p.attnLayerSum[l]! += s.attnLayers[l]!;
        p.ffnLayerSum[l]! += s.ffnLayers[l]!;
        for (let h = 0; h < H; h++) p.headSum[l * H + h]! += s.heads[l * H + h]!;
      }
      return s;
    });
    pending.push({ residMid: o.resid_mid!, mlpPost: o.mlp_post!, scale: o.final_scale!, target: w, scores });
    pendingCases += B;
    if (pendingCases >= scoreBatch) await flush();
  }
  if (pendingCases > 0) await flush();
  return p;
}
