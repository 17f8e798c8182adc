/**
 * The naive paths stay in the engine as oracles: one forward per (case, head) at batch size 1,
 * one forward per head, and the per-neuron projection through the unembedding without U. The
 * fast paths must agree with them (float32 against float32, so tightly).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { buildCases, operandPairs } from "../../core/index.ts";
import { headAblation, loadCheckpoint, ModelRunner, NeuronScorer } from "../../worker/index.ts";
import type { Case } from "../../core/index.ts";
import { maxAbsDiff, ZOO_DIR } from "../helpers/golden.ts";

describe("fast paths agree with the naive oracles (arith-3l-d96, 1D -)", () => {
  let runner: ModelRunner;
  let cases: Case[];
  beforeAll(async () => {
    const ck = await loadCheckpoint(join(ZOO_DIR, "arith-3l-d96"));
    runner = new ModelRunner("arith-3l-d96", ck.config, ck.weights, { intraOpThreads: 2 });
    cases = buildCases(operandPairs("-", 1), 4, ck.tokenizer).filter((c) => c.id % 7 === 0);
  });
  afterAll(async () => runner?.close());

  it("packed head ablation = one head at a time = one (case, head) at a time", async () => {
    const packed = await headAblation(runner, cases, { mode: "packed", maxBatchRows: 50 });
    const perHead = await headAblation(runner, cases, { mode: "per-head" });
    const single = await headAblation(runner, cases, { mode: "single" });
    for (const other of [perHead, single]) {
      expect(other.correct).toEqual(packed.correct);
      expect(maxAbsDiff(other.probSum, packed.probSum) / cases.length).toBeLessThan(1e-5);
      expect(other.baselineCorrect).toBe(packed.baselineCorrect);
    }
  });

  it("U-matrix importance = naive per-neuron projection, precomputed or chunked, moments or log space", async () => {
    const out = await runner.forward({
      sequences: cases.map((c) => c.prefixIds),
      outputs: ["logits", "resid_mid", "mlp_post", "final_scale"],
    });
    const V = runner.shape.vocabSize;
    const target = cases.map((_, b) => {
      const r = out.outputs.logits!.subarray(b * V, (b + 1) * V);
      return r.indexOf(Math.max(...r));
    });
    const inputs = {
      batch: cases.length,
      residMid: out.outputs.resid_mid!,
      mlpPost: out.outputs.mlp_post!,
      scale: out.outputs.final_scale!,
      target,
    };
    const naive = await new NeuronScorer(runner, { method: "naive", scratchBytes: 1 << 16 }).score(inputs);
    const pre = new NeuronScorer(runner, { method: "u-matrix" });
    const chunked = new NeuronScorer(runner, { method: "u-matrix", uBudgetBytes: 0, scratchBytes: 1 << 16 });
    expect(pre.uMode).toBe("precomputed");
    expect(chunked.uMode).toBe("chunked");
    expect(maxAbsDiff(await pre.score(inputs), naive)).toBeLessThan(1e-4);
    expect(maxAbsDiff(await chunked.score(inputs), naive)).toBeLessThan(1e-4);
    const logSpace = new NeuronScorer(runner, { method: "u-matrix", kernel: "log-space" });
    expect(maxAbsDiff(await logSpace.score(inputs), naive)).toBeLessThan(1e-4);
    // Both kernels ran: most pairs from moments, the few with large |t| in log space.
    const counts = pre.kernelCounts();
    expect(counts.moments).toBeGreaterThan(counts.logSpace);
    expect(counts.moments + counts.logSpace).toBe(inputs.batch * runner.shape.nLayer * runner.shape.dMlp);
  });
});
