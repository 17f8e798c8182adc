/**
 * Head ablation (METHOD.md section 2): every head of the model, one at a time, over a cell's
 * cases; accuracy and mean probability of the true answer with the head removed.
 *
 * Three execution modes compute the same numbers:
 * - "packed" (default): one clean forward per batch of cases keeps the residual entering every
 *   layer; then for each layer l, rows (case, head of l) are packed into [B, L, H] masks and only
 *   layers >= l are recomputed from the kept residual.
 * - "per-head": one full forward per head over a batch of cases.
 * - "single": the paper's way, one forward per (case, head) at batch size 1 (oracle and baseline).
 */
import type { HeadAblationPartial } from "../../core/index.ts";
import type { ModelRunner } from "../onnx/runner.ts";
import { argmax, checkCases, chunks, headMask, row, softmaxAt } from "./common.ts";
import type { AnalysisCase, Progress } from "./common.ts";

export type HeadAblationMode = "packed" | "per-head" | "single";

export interface HeadAblationOptions {
  mode?: HeadAblationMode;
  /** rows per forward pass (default 256) */
  maxBatchRows?: number;
  onProgress?: Progress;
}

interface Tally {
  correct: number[];
  probSum: number[];
}

export async function headAblation(runner: ModelRunner, cases: readonly AnalysisCase[], options: HeadAblationOptions = {}): Promise<HeadAblationPartial> {
  const shape = runner.shape;
  checkCases(cases, shape);
  const { nLayer: L, nHead: H, dMlp: F } = shape;
  const maxRows = options.maxBatchRows ?? 256;
  const mode = options.mode ?? "packed";
  const tally: Tally = { correct: new Array(L * H).fill(0), probSum: new Array(L * H).fill(0) };
  const partial: HeadAblationPartial = {
    kind: "head-ablation", dims: { nLayer: L, nHead: H, dMlp: F }, cases: cases.length,
    baselineCorrect: 0, baselineProbSum: 0, correct: tally.correct, probSum: tally.probSum,
  };
  const total = cases.length * L * H;
  let done = 0;
  const progress = (n: number) => options.onProgress?.((done += n), total);

  for (const batch of chunks(cases, mode === "single" ? 1 : maxRows)) {
    const clean = await runner.forward({ sequences: batch.map((c) => c.prefixIds), outputs: mode === "packed" ? ["logits", "resid_pre_all"] : ["logits"] });
    batch.forEach((c, b) => {
      const logits = row(clean.outputs.logits!, b, shape.vocabSize);
      if (argmax(logits) === c.target) partial.baselineCorrect++;
      partial.baselineProbSum += softmaxAt(logits, c.target);
    });
    if (mode === "packed") await packed(runner, batch, clean.outputs.resid_pre_all!, clean.seqLen, maxRows, tally, progress);
    else await oneHeadAtATime(runner, batch, tally, progress);
  }
  return partial;
}

function count(tally: Tally, slot: number, logits: Float32Array, target: number): void {
  if (argmax(logits) === target) tally.correct[slot]!++;
  tally.probSum[slot] = tally.probSum[slot]! + softmaxAt(logits, target);
}

async function oneHeadAtATime(runner: ModelRunner, batch: AnalysisCase[], tally: Tally, progress: (n: number) => void): Promise<void> {
  const { nLayer: L, nHead: H, vocabSize: V } = runner.shape;
  for (let layer = 0; layer < L; layer++) {
    for (let head = 0; head < H; head++) {
      const out = await runner.forward({
        sequences: batch.map((c) => c.prefixIds), outputs: ["logits"],
        headMask: headMask(runner.shape, batch.map(() => ({ layer, head }))),
      });
      batch.forEach((c, b) => count(tally, layer * H + head, row(out.outputs.logits!, b, V), c.target));
      progress(batch.length);
    }
  }
}

/**
 * residAll: [B, L, T, D] residual entering each layer at every position, from the clean pass.
 * Rows of one pass are (case, head) pairs of a single layer, so they share the start layer.
 */
async function packed(
  runner: ModelRunner, batch: AnalysisCase[], residAll: Float32Array, T: number, maxRows: number, tally: Tally, progress: (n: number) => void,
): Promise<void> {
  const { nLayer: L, nHead: H, dModel: D, vocabSize: V } = runner.shape;
  const pairs = batch.flatMap((_, b) => Array.from({ length: H }, (_, head) => ({ b, head })));
  for (let layer = 0; layer < L; layer++) {
    for (const rows of chunks(pairs, maxRows)) {
      const sequences = rows.map((r) => batch[r.b]!.prefixIds);
      const mask = headMask(runner.shape, rows.map((r) => ({ layer, head: r.head })));
      let out;
      if (layer === 0) {
        out = await runner.forward({ sequences, outputs: ["logits"], headMask: mask });
      } else {
        const t2 = Math.max(...sequences.map((s) => s.length));
        const residIn = new Float32Array(rows.length * t2 * D);
        rows.forEach((r, i) => {
          const len = batch[r.b]!.prefixIds.length;
          const from = ((r.b * L + layer) * T) * D;
          residIn.set(residAll.subarray(from, from + len * D), i * t2 * D);
        });
        out = await runner.forward({ sequences, outputs: ["logits"], headMask: mask, startLayer: layer, residIn });
      }
      rows.forEach((r, i) => count(tally, layer * H + r.head, row(out.outputs.logits!, i, V), batch[r.b]!.target));
      progress(rows.length);
    }
  }
}
