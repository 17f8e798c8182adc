/**
 * --models-root confines what a sweep from the network can make a server open: SubmitSweep over
 * real gRPC refuses a model outside every root (symlinks followed) with PERMISSION_DENIED naming
 * models[i].path and the roots, and a worker refuses such a shard (or Analyze request) before
 * reading a byte.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { modelPathCheck } from "../../cli/models-root.ts";
import { Coordinator, startSweepServer } from "../../coordinator/index.ts";
import type { SweepServer } from "../../coordinator/index.ts";
import { MemoryShardQueue } from "../../core/index.ts";
import type { ShardTask } from "../../core/index.ts";
import { Analysis, createSweepClient, createWorkerClient } from "../../proto/index.ts";
import { ModelCache, analyzePrompt, digestCheckpoint, startWorkerServer } from "../../worker/index.ts";
import { errorCodeOf, failure, unary } from "../helpers/grpc.ts";

const ZOO_MODEL = fileURLToPath(new URL("../../models/arith-2l-d64", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "cna-roots-"));
const root = join(dir, "models");
const outside = join(dir, "elsewhere", "m");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sweep = (path: string) =>
  `name: roots\nmodels: [{ id: m, path: ${JSON.stringify(path)} }]\noperators: ["+"]\ndigits: [1]\nstages: [head-ablation]\n`;

describe("--models-root", () => {
  const queue = new MemoryShardQueue<ShardTask>({ groupOf: (t) => t.sweepId });
  let coordinator: Coordinator;
  let server: SweepServer;
  beforeAll(async () => {
    mkdirSync(root, { recursive: true });
    cpSync(ZOO_MODEL, join(root, "inside"), { recursive: true });
    cpSync(ZOO_MODEL, outside, { recursive: true });
    symlinkSync(outside, join(root, "link-out"));
    coordinator = new Coordinator({
      dataDir: join(dir, "data"),
      queue,
      digestModel: digestCheckpoint,
      checkModelPath: modelPathCheck({ "models-root": [root] }),
    });
    await coordinator.start();
    server = await startSweepServer({ backend: coordinator, port: 0 });
  });
  afterAll(async () => {
    await server.close();
    await queue.close();
    coordinator.close();
  });

  it("SubmitSweep: a model outside the roots, directly, by .. or by a symlink, is PERMISSION_DENIED naming the field and the roots", async () => {
    const c = createSweepClient(server.address, {});
    try {
      for (const path of [outside, join(root, "..", "elsewhere", "m"), join(root, "link-out"), "/etc"]) {
        const err = await failure(unary(c, c.submitSweep, { sweepYaml: sweep(path), sourceName: "s.yaml" }));
        expect([err.code, errorCodeOf(err)], err.details).toEqual([
          status.PERMISSION_DENIED,
          "MODEL_PATH_OUTSIDE_ROOTS",
        ]);
        expect(err.details).toContain(`models[0].path ${path} is outside the model roots (${root})`);
      }
      const ok = await unary(c, c.submitSweep, { sweepYaml: sweep(join(root, "inside")), sourceName: "s.yaml" });
      expect(ok.id).toMatch(/^roots-/);
    } finally {
      c.close();
    }
  });

  it("worker: a shard or Analyze request naming a model outside the roots is refused before it is read", async () => {
    const models = new ModelCache({ intraOpThreads: 1, checkModelPath: modelPathCheck({ "models-root": [root] }) });
    const worker = await startWorkerServer({
      describe: () => ({
        id: "w",
        state: "RUNNING",
        provider: "cpu",
        modelsLoaded: [],
        inFlight: 0,
        version: "t",
        resultFormatVersion: 1,
        executionProviders: ["cpu"],
      }),
      analyze: (req) => analyzePrompt(models, req),
      drain: async () => {},
      port: 0,
    });
    const c = createWorkerClient(worker.address, {});
    try {
      await expect(models.get(join(root, "link-out"))).rejects.toMatchObject({
        code: "MODEL_PATH_OUTSIDE_ROOTS",
        retryable: false,
      });
      const err = await failure(
        unary(c, c.analyze, { modelPath: outside, prompt: "1+1=", analysis: Analysis.ANALYSIS_HEAD_ABLATION }),
      );
      expect([err.code, errorCodeOf(err)]).toEqual([status.PERMISSION_DENIED, "MODEL_PATH_OUTSIDE_ROOTS"]);
      expect(models.loaded()).toEqual([]);
      const res = await unary(c, c.analyze, {
        modelPath: join(root, "inside"),
        prompt: "1+1=",
        analysis: Analysis.ANALYSIS_HEAD_ABLATION,
      });
      expect(JSON.parse(res.json).target).toEqual(expect.any(Number));
    } finally {
      c.close();
      await worker.close();
      await models.close();
    }
  });
});
