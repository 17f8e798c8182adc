/**
 * Embedded sweeps: coordinator and workers in one process. Rankings are bit-identical whatever
 * the worker count, survive a restart on the same data directory, and equal the unsharded
 * analysis of each cell.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCases, canonicalJson, operandPairs, rankHeads } from "../../core/index.ts";
import type { ModelDigest } from "../../core/index.ts";
import type { PlanSpec } from "../../coordinator/index.ts";
import { digestModels, headAblation, loadCheckpoint, ModelRunner } from "../../worker/index.ts";
import { runEmbedded } from "../../cli/embedded.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";

describe("embedded sweep", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-embedded-"));
  const modelPath = join(dir, "tiny");
  const spec = (): PlanSpec => ({
    sweepId: "embedded-test",
    cells: (["+", "-"] as const).map((op) => ({ key: { model: "tiny", op, digits: 1, template: 4 }, modelPath })),
    stages: ["head-ablation", "cna", "verify"],
    sample: 100, casesSeed: 0, pairsPerShard: 30, topK: 20, target: "predicted", ks: [5, 10], verifySeed: 7,
    models,
  });
  let models: Record<string, ModelDigest> = {};
  beforeAll(async () => {
    writeGpt2Checkpoint(modelPath, { nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 16, seed: 3 });
    models = await digestModels([{ id: "tiny", path: modelPath }]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("gives byte-identical rankings with 1 and 3 workers, and after a restart", async () => {
    const one = await runEmbedded({ spec: spec(), dataDir: join(dir, "one"), workers: 1 });
    const three = await runEmbedded({ spec: spec(), dataDir: join(dir, "three"), workers: 3 });
    expect(one.state).toBe("SUCCEEDED");
    expect(three.state).toBe("SUCCEEDED");
    expect(canonicalJson(three.rankings)).toBe(canonicalJson(one.rankings));
    expect(one.status.stages.map((s) => [s.stage, s.total, s.stored])).toEqual([["head-ablation", 8, 8], ["cna", 8, 8], ["verify", 8, 8]]);

    let executed = 0;
    const again = await runEmbedded({ spec: spec(), dataDir: join(dir, "one"), workers: 2, onWorkerEvent: (_, e) => { if (e.type === "started") executed++; } });
    expect(executed).toBe(0);
    expect(canonicalJson(again.rankings)).toBe(canonicalJson(one.rankings));
  });

  it("merges shards to the same head ablation as one unsharded pass", async () => {
    const { rankings } = await runEmbedded({ spec: { ...spec(), stages: ["head-ablation"] }, dataDir: join(dir, "ha"), workers: 2 });
    const ck = await loadCheckpoint(modelPath);
    await using runner = new ModelRunner("tiny", ck.config, ck.weights);
    for (const cell of rankings.cells) {
      const whole = rankHeads(await headAblation(runner, buildCases(operandPairs(cell.op, 1), 4, ck.tokenizer)));
      expect(cell.heads!.map((h) => [h.layer, h.head, h.accuracy])).toEqual(whole.map((h) => [h.layer, h.head, h.accuracy]));
      cell.heads!.forEach((h, i) => expect(Math.abs(h.meanProbCorrect - whole[i]!.meanProbCorrect)).toBeLessThan(1e-9));
    }
  });
});
