/**
 * Embedded sweeps: coordinator and workers in one process (runLocal, in-process transport).
 * Rankings are bit-identical whatever the worker count, survive a restart on the same data
 * directory, and equal the unsharded analysis of each cell.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCases, canonicalJson, operandPairs, rankHeads } from "../../core/index.ts";
import { prepareSweep, readSweepFile, runLocal } from "../../app/index.ts";
import type { LocalRunOptions, LocalRunResult, PreparedSweep } from "../../app/index.ts";
import { headAblation, loadCheckpoint, ModelRunner } from "../../worker/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";

const SWEEP = `name: embedded-test
models: [{ id: tiny, path: tiny }]
operators: ["+", "-"]
digits: [1]
templates: [4]
cases: { sample: 100, seed: 0 }
stages: [head-ablation, cna, verify]
cna: { topK: 20, target: predicted }
verify: { ks: [5, 10], seed: 7 }
shard: { pairs: 30 }
`;

/** One local run to its end. */
async function runEmbedded(o: LocalRunOptions): Promise<LocalRunResult> {
  await using run = await runLocal(o);
  return await run.finished(); // awaited here, before the run is disposed
}

describe("embedded sweep", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-embedded-"));
  const modelPath = join(dir, "tiny");
  const prepare = (text: string) => {
    writeFileSync(join(dir, "sweep.yaml"), text);
    return prepareSweep(readSweepFile(join(dir, "sweep.yaml")), { source: "sweep.yaml" });
  };
  let sweep: PreparedSweep;
  beforeAll(async () => {
    writeGpt2Checkpoint(modelPath, { nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 16, seed: 3 });
    sweep = await prepare(SWEEP);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("gives byte-identical rankings with 1 and 3 workers, and after a restart", async () => {
    const one = await runEmbedded({ sweep, dataDir: join(dir, "one"), workers: 1 });
    const three = await runEmbedded({ sweep, dataDir: join(dir, "three"), workers: 3 });
    expect(one.state).toBe("SUCCEEDED");
    expect(three.state).toBe("SUCCEEDED");
    expect(canonicalJson(three.rankings)).toBe(canonicalJson(one.rankings));
    expect(one.status.stages.map((s) => [s.stage, s.total, s.stored])).toEqual([
      ["head-ablation", 8, 8],
      ["cna", 8, 8],
      ["verify", 8, 8],
      ["top-tokens", 2, 2],
    ]);
    // the last stage gave every listed neuron its top tokens
    expect(one.rankings.cells.flatMap((c) => c.neurons!).filter((n) => !n.topTokens?.length)).toEqual([]);

    let executed = 0;
    const again = await runEmbedded({
      sweep,
      dataDir: join(dir, "one"),
      workers: 2,
      onWorkerEvent: (_, e) => {
        if (e.type === "started") executed++;
      },
    });
    expect(executed).toBe(0);
    expect(canonicalJson(again.rankings)).toBe(canonicalJson(one.rankings));
  });

  it("merges shards to the same head ablation as one unsharded pass", async () => {
    const { rankings } = await runEmbedded({
      sweep: await prepare(SWEEP.replace("[head-ablation, cna, verify]", "[head-ablation]")),
      dataDir: join(dir, "ha"),
      workers: 2,
    });
    const ck = await loadCheckpoint(modelPath);
    await using runner = new ModelRunner("tiny", ck.config, ck.weights);
    for (const cell of rankings.cells) {
      const whole = rankHeads(await headAblation(runner, buildCases(operandPairs(cell.op, 1), 4, ck.tokenizer)));
      expect(cell.heads!.map((h) => [h.layer, h.head, h.accuracy])).toEqual(
        whole.map((h) => [h.layer, h.head, h.accuracy]),
      );
      cell.heads!.forEach((h, i) => expect(Math.abs(h.meanProbCorrect - whole[i]!.meanProbCorrect)).toBeLessThan(1e-9));
    }
  });
});
