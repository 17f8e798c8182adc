/**
 * Top tokens come from the workers: a coordinator whose machine holds no model files still ships
 * rankings in which every neuron listed (by CNA and by attribution) has its top tokens and σ,
 * the same bytes as a local run, where coordinator and workers share one disk.
 *
 * A cluster's two machines are played in one process. The sweep names its model by a path that
 * does not exist here; the workers find the model's files at that path on "their disk" (their
 * shards are run with the path mapped to the zoo model). The coordinator reads a model only for
 * its content digest at submit, which it is given here as the workers' files have it, so nothing
 * of the model is on its side.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { prepareSweep, readSweepFile, runLocal } from "../../app/index.ts";
import { Coordinator } from "../../coordinator/index.ts";
import type { SweepState } from "../../coordinator/index.ts";
import { MemoryShardQueue } from "../../core/index.ts";
import type { Rankings, ResultSink, ShardTask } from "../../core/index.ts";
import { ModelCache, ShardWorker, digestCheckpoint, executeShard } from "../../worker/index.ts";

const MODEL = fileURLToPath(new URL("../../models/arith-2l-d64", import.meta.url));

const sweepYaml = (path: string) => `name: tokens
models: [{ id: m, path: ${JSON.stringify(path)} }]
operators: ["+", "*"]
digits: [1]
stages: [head-ablation, attribution, cna]
cna: { topK: 20 }
shard: { pairs: 50 }
`;

describe("top tokens on the workers", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-top-tokens-workers-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a coordinator without the model files ships rankings with every listed neuron's top tokens, as a local run does", async () => {
    const onWorkers = join(dir, "workers-disk", "arith-2l-d64");
    expect(existsSync(onWorkers)).toBe(false);
    const digest = await digestCheckpoint(MODEL);

    const queue = new MemoryShardQueue<ShardTask>({ groupOf: (t) => t.sweepId });
    const coordinator = new Coordinator({
      dataDir: join(dir, "coordinator"),
      queue,
      digestModel: async (path) => {
        if (path !== onWorkers) throw new Error(`no ${path} here`);
        return digest;
      },
    });
    await coordinator.start();
    const sink: ResultSink = {
      report: async (r) => void (await coordinator.reportShard(r)),
      fail: (f) => coordinator.reportFailure(f),
    };
    const models = new ModelCache();
    const stages: string[] = [];
    const onWorkerDisk = (t: ShardTask): ShardTask => ({
      ...t,
      cell: { ...t.cell, modelPath: t.cell.modelPath === onWorkers ? MODEL : t.cell.modelPath },
    });
    const workers = [0, 1].map(
      (i) =>
        new ShardWorker(queue, sink, models, {
          id: `w${i}`,
          pullTimeoutMs: 50,
          execute: (t, m) => {
            stages.push(t.stage);
            return executeShard(onWorkerDisk(t), m);
          },
        }),
    );
    try {
      for (const w of workers) w.start();
      const submitted = await coordinator.submit(sweepYaml(onWorkers), "tokens.yaml");
      const state = await new Promise<SweepState>((resolve) => {
        const stop = coordinator.watch(submitted.sweepId, (v) => {
          if (v.state === "RUNNING") return;
          queueMicrotask(() => stop());
          resolve(v.state);
        });
      });
      expect(state).toBe("SUCCEEDED");
      // one top-tokens shard per cell, run by a worker after the cell's other stages
      expect(stages.filter((s) => s === "top-tokens")).toHaveLength(2);
      expect(coordinator.get(submitted.sweepId).stages.map((s) => [s.stage, s.stored, s.expected])).toEqual([
        ["head-ablation", 4, 4],
        ["attribution", 4, 4],
        ["cna", 4, 4],
        ["top-tokens", 2, 2],
      ]);

      const { json, final } = await coordinator.rankings(submitted.sweepId);
      expect(final).toBe(true);
      const rankings = JSON.parse(json) as Rankings;
      for (const cell of rankings.cells) {
        for (const n of [...cell.neurons!, ...cell.attribution!.neurons]) {
          expect(n.topTokens, `${cell.op} ${n.layer}_${n.neuron}`).toHaveLength(10);
          expect([1, -1]).toContain(n.topTokensSign);
        }
      }

      // the same sweep run locally, on the model's own path: the same bytes
      writeFileSync(join(dir, "local.yaml"), sweepYaml(MODEL));
      const sweep = await prepareSweep(readSweepFile(join(dir, "local.yaml")), { source: "local.yaml" });
      await using local = await runLocal({ sweep, dataDir: join(dir, "local"), workers: 2 });
      const r = await local.finished();
      expect(r.state).toBe("SUCCEEDED");
      expect(json).toBe(`${JSON.stringify(r.rankings, null, 2)}\n`);
    } finally {
      await Promise.all(workers.map((w) => w.drain()));
      await models.close();
      await queue.close();
      coordinator.close();
    }
  }, 120_000);
});
