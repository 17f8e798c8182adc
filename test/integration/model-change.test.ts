/**
 * Results never outlive the files they were computed from: a coordinator refuses to resume a
 * resubmitted sweep whose model changed (naming the file) unless asked for a fresh sweep, a
 * worker refuses a shard planned with other files, and shard ids carry the model's digest and
 * the result-format and method versions.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Coordinator, planSpecOf, planStage } from "../../coordinator/index.ts";
import { METHOD_VERSION, MemoryShardQueue, RESULT_FORMAT_VERSION, parseSweep } from "../../core/index.ts";
import type { ShardTask } from "../../core/index.ts";
import { ModelCache, digestCheckpoint, digestModels, readModelHeads } from "../../worker/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";

const root = mkdtempSync(join(tmpdir(), "cna-model-change-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const model = join(root, "m");
const yaml = `name: change\nmodels: [{ id: m, path: ${JSON.stringify(model)} }]\noperators: ["+"]\ndigits: [1]\nstages: [head-ablation]\n`;

describe("model contents in shard identity", () => {
  it("puts the model digest and both versions into every shard, so other weights give other ids", async () => {
    writeGpt2Checkpoint(model, { seed: 1 });
    const spec = parseSweep(yaml);
    const a = planSpecOf(spec, "s", await digestModels(spec.models));
    const [shardA] = planStage(a, a.cells[0]!, "head-ablation");
    expect(shardA!.task.cell.modelDigest).toBe((await digestCheckpoint(model)).digest);
    expect(shardA!.task.versions).toEqual({ resultFormat: RESULT_FORMAT_VERSION, method: METHOD_VERSION });
    writeGpt2Checkpoint(model, { seed: 2 });
    const b = planSpecOf(spec, "s", await digestModels(spec.models));
    const [shardB] = planStage(b, b.cells[0]!, "head-ablation");
    expect(shardB!.id).not.toBe(shardA!.id);
    expect({ ...shardB!.task, cell: { ...shardB!.task.cell, modelDigest: "" } }).toEqual({
      ...shardA!.task,
      cell: { ...shardA!.task.cell, modelDigest: "" },
    });
  });

  it("coordinator: a resubmission after the weights changed is MODEL_CHANGED naming the file; fresh gives a new sweep", async () => {
    writeGpt2Checkpoint(model, { seed: 1 });
    const queue = new MemoryShardQueue<ShardTask>({ groupOf: (t) => t.sweepId });
    const coordinator = new Coordinator({ dataDir: join(root, "data"), queue, digestModel: digestCheckpoint });
    await coordinator.start();
    try {
      const first = await coordinator.submit(yaml, "change.yaml");
      expect((await coordinator.submit(yaml, "change.yaml")).sweepId).toBe(first.sweepId);
      writeGpt2Checkpoint(model, { seed: 2 });
      await expect(coordinator.submit(yaml, "change.yaml")).rejects.toMatchObject({
        code: "MODEL_CHANGED",
        files: ["model.safetensors"],
        message: expect.stringMatching(
          new RegExp(`model files changed since sweep ${first.sweepId} was planned \\(m: model\\.safetensors\\)`),
        ),
      });
      const fresh = await coordinator.submit(yaml, "change.yaml", { fresh: true });
      expect(fresh.sweepId).not.toBe(first.sweepId);
      // a tokenizer change is named as such
      writeFileSync(
        join(model, "tokenizer_config.json"),
        JSON.stringify({ eos_token: "<|endoftext|>", model_max_length: 16 }),
      );
      await expect(coordinator.submit(yaml, "change.yaml")).rejects.toMatchObject({
        code: "MODEL_CHANGED",
        files: ["tokenizer_config.json"],
      });
    } finally {
      await queue.close();
      coordinator.close();
    }
  });

  it("coordinator: starts on a data directory holding a sweep planned without model digests (an older version), leaving it unloaded", async () => {
    const dataDir = join(root, "data-old");
    mkdirSync(join(dataDir, "sweeps", "old-0123456789", "results"), { recursive: true });
    const oldPlan = {
      sweepId: "old-0123456789",
      cells: [{ key: { model: "m", op: "+", digits: 1, template: 4 }, modelPath: model }],
      stages: ["head-ablation"],
      sample: 100,
      casesSeed: 0,
      pairsPerShard: 50,
      topK: 10,
      target: "predicted",
      ks: [10],
      verifySeed: 1,
    };
    writeFileSync(
      join(dataDir, "sweeps", "old-0123456789", "journal.jsonl"),
      `${JSON.stringify({ type: "sweep-submitted", sweepId: "old-0123456789", at: new Date(0).toISOString(), spec: oldPlan, source: "old.yaml" })}\n`,
    );
    const queue = new MemoryShardQueue<ShardTask>({ groupOf: (t) => t.sweepId });
    const coordinator = new Coordinator({ dataDir, queue, digestModel: digestCheckpoint });
    try {
      await coordinator.start();
      expect(coordinator.list()).toEqual([]);
    } finally {
      await queue.close();
      coordinator.close();
    }
  });

  it("coordinator: a model that cannot be read is refused at submit, naming models[i].path", async () => {
    const queue = new MemoryShardQueue<ShardTask>({ groupOf: (t) => t.sweepId });
    const coordinator = new Coordinator({ dataDir: join(root, "data2"), queue, digestModel: digestCheckpoint });
    await coordinator.start();
    try {
      await expect(
        coordinator.submit(yaml.replace(JSON.stringify(model), JSON.stringify(join(root, "absent"))), "absent.yaml"),
      ).rejects.toMatchObject({
        code: "BAD_SPEC",
        field: "models[0].path",
        message: expect.stringMatching(/^absent\.yaml: models\[0\]\.path \S+absent: /),
      });
    } finally {
      await queue.close();
      coordinator.close();
    }
  });

  it("coordinator: a fixed head that is not a head of a model is refused at submit, naming cna.head", async () => {
    writeGpt2Checkpoint(model, { seed: 1, nLayer: 2, nHead: 2 });
    const queue = new MemoryShardQueue<ShardTask>({ groupOf: (t) => t.sweepId });
    const coordinator = new Coordinator({
      dataDir: join(root, "data3"),
      queue,
      digestModel: digestCheckpoint,
      modelHeads: readModelHeads,
    });
    await coordinator.start();
    try {
      const withHead = (h: string) => yaml.replace("stages: [head-ablation]", `stages: [cna]\ncna: { head: "${h}" }`);
      await expect(coordinator.submit(withHead("9.9"), "h.yaml")).rejects.toMatchObject({
        code: "BAD_SPEC",
        field: "cna.head",
        message: expect.stringMatching(
          /cna\.head L9H9 is not a head of models\[0\] \(m: 2 layers × 2 heads, 0-based\)/,
        ),
      });
      await expect(coordinator.submit(withHead("1.2"), "h.yaml")).rejects.toMatchObject({ field: "cna.head" });
      expect((await coordinator.submit(withHead("1.1"), "h.yaml")).state).toBe("RUNNING");
    } finally {
      await queue.close();
      coordinator.close();
    }
  });

  it("worker: a shard planned with other files is refused with MODEL_CHANGED, also when the old model is held", async () => {
    writeGpt2Checkpoint(model, { seed: 1 });
    const models = new ModelCache({ intraOpThreads: 1 });
    try {
      const old = (await digestCheckpoint(model)).digest;
      expect((await models.get(model, old)).checkpoint.digest).toBe(old);
      writeGpt2Checkpoint(model, { seed: 3 });
      const now = (await digestCheckpoint(model)).digest;
      // the held model is of the old files: it is loaded again for a shard of the new ones
      expect((await models.get(model, now)).checkpoint.digest).toBe(now);
      await expect(models.get(model, old)).rejects.toMatchObject({ code: "MODEL_CHANGED", retryable: false });
    } finally {
      await models.close();
    }
  });
});
