/**
 * Head ablation must not depend on how cases are batched: a case's numbers are the same bits
 * whether it runs alone, with its other answer tokens in one row, or among any other cases, in
 * packed and per-head mode. Shards split a cell by pairs in any way and merge by addition, so
 * this is what keeps sharded and unsharded rankings identical.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { buildCases, selectPairs } from "../../core/index.ts";
import type { Case } from "../../core/index.ts";
import { headAblation, loadCheckpoint, ModelRunner } from "../../worker/index.ts";
import { ZOO_DIR } from "../helpers/golden.ts";

describe("head ablation is independent of batching (arith-4l-d128, 2D +)", () => {
  let runner: ModelRunner;
  let cases: Case[];
  beforeAll(async () => {
    const ck = await loadCheckpoint(join(ZOO_DIR, "arith-4l-d128"));
    runner = new ModelRunner("arith-4l-d128", ck.config, ck.weights, { intraOpThreads: 2 });
    // 2- and 3-token answers: rows carry 2 or 3 cases and have different lengths.
    cases = buildCases(selectPairs("+", 2, { sample: 12, seed: 5 }), 4, ck.tokenizer);
  });
  afterAll(async () => runner?.close());

  it("packed and per-head agree bit for bit, at every batch size", async () => {
    const whole = await headAblation(runner, cases, { mode: "packed" });
    // packed: 33 and 99 rows are sweeps of 1 and 3 prompts (1 + L H = 33 rows each by the last layer).
    for (const [mode, maxBatchRows] of [
      ["packed", 33],
      ["packed", 99],
      ["packed", 100_000],
      ["per-head", 3],
      ["per-head", 256],
    ] as const) {
      const other = await headAblation(runner, cases, { mode, maxBatchRows });
      expect(
        [other.correct, other.probSum, other.baselineCorrect, other.baselineProbSum],
        `${mode} ${maxBatchRows}`,
      ).toEqual([whole.correct, whole.probSum, whole.baselineCorrect, whole.baselineProbSum]);
    }
  });

  it("equals the sum of every case run alone, bit for bit", async () => {
    const whole = await headAblation(runner, cases, { mode: "packed" });
    const probSum = new Array<number>(whole.probSum.length).fill(0);
    const correct = new Array<number>(whole.correct.length).fill(0);
    for (const c of cases) {
      const one = await headAblation(runner, [c], { mode: "packed" });
      one.probSum.forEach((p, i) => (probSum[i] = probSum[i]! + p));
      one.correct.forEach((n, i) => (correct[i] = correct[i]! + n));
    }
    expect(correct).toEqual(whole.correct);
    expect(probSum).toEqual(whole.probSum);
  });
});
