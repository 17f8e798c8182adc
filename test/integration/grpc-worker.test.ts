/**
 * WorkerService over real gRPC on 127.0.0.1:0: Describe, Analyze (request validated and
 * converted at the edge), Drain, auth, health and reflection.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, status } from "@grpc/grpc-js";
import { Analysis, WorkerState, createWorkerClient } from "../../proto/index.ts";
import type { WorkerServiceClient } from "../../proto/index.ts";
import { startWorkerServer } from "../../worker/runtime/grpc-server.ts";
import type { AnalyzeRequestView, WorkerInfoView, WorkerServer } from "../../worker/runtime/grpc-server.ts";
import { ModelCache, analyzePrompt } from "../../worker/index.ts";
import { errorCodeOf, failure, healthCheck, reflectedServices, unary } from "../helpers/grpc.ts";

const ZOO = fileURLToPath(new URL("../../models", import.meta.url));

const TOKEN = "worker-token";

describe("WorkerService over gRPC", () => {
  const analyzed: AnalyzeRequestView[] = [];
  const info: WorkerInfoView = {
    id: "w1",
    state: "RUNNING",
    provider: "cpu",
    modelsLoaded: ["arith-2l-d64"],
    inFlight: 1,
    version: "0.1.0",
    commit: "0123abc",
    resultFormatVersion: 1,
    executionProviders: ["cpu", "cuda (separate install)"],
  };
  let drained = 0;
  let server: WorkerServer;
  let client: WorkerServiceClient;

  beforeAll(async () => {
    server = await startWorkerServer({
      describe: () => info,
      analyze: async (req) => {
        analyzed.push(req);
        if (req.modelPath === "/missing")
          throw Object.assign(new Error("no such model"), { code: "MODEL_NOT_FOUND", retryable: false });
        return JSON.stringify({ analysis: req.analysis, heads: [] });
      },
      drain: async () => {
        drained++;
        info.state = "STOPPED";
        info.inFlight = 0;
      },
      token: TOKEN,
    });
    client = createWorkerClient(server.address, { token: TOKEN });
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });

  it("describes the worker", async () => {
    expect(await unary(client, client.describe, {})).toEqual({
      id: "w1",
      state: WorkerState.WORKER_STATE_RUNNING,
      provider: "cpu",
      modelsLoaded: ["arith-2l-d64"],
      inFlight: 1,
      version: "0.1.0",
      commit: "0123abc",
      resultFormatVersion: 1,
      executionProviders: ["cpu", "cuda (separate install)"],
    });
  });

  it("analyses one prompt, converting the request to domain values", async () => {
    const res = await unary(client, client.analyze, {
      modelPath: "models/arith-2l-d64",
      prompt: "12+34=",
      targetToken: "4",
      analysis: Analysis.ANALYSIS_CNA,
      head: { layer: 1, head: 0 },
    });
    expect(JSON.parse(res.json)).toEqual({ analysis: "cna", heads: [] });
    expect(analyzed.at(-1)).toEqual({
      modelPath: "models/arith-2l-d64",
      prompt: "12+34=",
      targetToken: "4",
      analysis: "cna",
      head: { layer: 1, head: 0 },
    });
    await unary(client, client.analyze, { modelPath: "m", prompt: "1+1=", analysis: Analysis.ANALYSIS_HEAD_ABLATION });
    expect(analyzed.at(-1)).toEqual({ modelPath: "m", prompt: "1+1=", analysis: "head-ablation" });
  });

  it("validates Analyze requests, naming the field", async () => {
    const n = analyzed.length;
    for (const [req, field] of [
      [{ modelPath: "", prompt: "1+1=", analysis: Analysis.ANALYSIS_CNA }, "model_path"],
      [{ modelPath: "m", prompt: "", analysis: Analysis.ANALYSIS_CNA }, "prompt"],
      [{ modelPath: "m", prompt: "1+1=", analysis: Analysis.ANALYSIS_UNSPECIFIED }, "analysis"],
      [{ modelPath: "m", prompt: "1+1=", analysis: Analysis.ANALYSIS_CNA, targetToken: "" }, "target_token"],
    ] as const) {
      const err = await failure(unary(client, client.analyze, req));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details.startsWith(`${field}: `), err.details).toBe(true);
    }
    expect(analyzed.length).toBe(n);
    const notFound = await failure(
      unary(client, client.analyze, { modelPath: "/missing", prompt: "1+1=", analysis: Analysis.ANALYSIS_CNA }),
    );
    expect(notFound.code).toBe(status.NOT_FOUND);
    expect(errorCodeOf(notFound)).toBe("MODEL_NOT_FOUND");
  });

  it("maps the engine's named errors to their gRPC statuses, not INTERNAL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cna-worker-status-"));
    const models = new ModelCache({ provider: "cpu", intraOpThreads: 1 });
    const real = await startWorkerServer({
      describe: () => info,
      analyze: (req) => analyzePrompt(models, req),
      drain: async () => {},
      port: 0,
    });
    const c = createWorkerClient(real.address, {});
    try {
      cpSync(join(ZOO, "arith-2l-d64"), join(dir, "other-arch"), { recursive: true });
      const config = JSON.parse(readFileSync(join(dir, "other-arch", "config.json"), "utf8")) as Record<
        string,
        unknown
      >;
      writeFileSync(
        join(dir, "other-arch", "config.json"),
        JSON.stringify({ ...config, model_type: "no-such-family" }),
      );
      const cases: Array<[string, string, status, string]> = [
        [join(dir, "absent"), "1+1=", status.NOT_FOUND, "MODEL_NOT_FOUND"],
        [join(dir, "other-arch"), "1+1=", status.FAILED_PRECONDITION, "UNSUPPORTED_ARCHITECTURE"],
        [join(ZOO, "arith-2l-d64"), "1+1=\u00e9", status.INVALID_ARGUMENT, "TOKENIZATION_FAILED"],
      ];
      for (const [modelPath, prompt, want, code] of cases) {
        const err = await failure(
          unary(c, c.analyze, { modelPath, prompt, analysis: Analysis.ANALYSIS_HEAD_ABLATION }),
        );
        expect([err.code, errorCodeOf(err)], err.details).toEqual([want, code]);
      }
    } finally {
      c.close();
      await real.close();
      await models.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses calls without the token; health stays open; reflection needs the token", async () => {
    const anonymous = createWorkerClient(server.address);
    try {
      expect((await failure(unary(anonymous, anonymous.drain, {}))).code).toBe(status.UNAUTHENTICATED);
    } finally {
      anonymous.close();
    }
    expect(drained).toBe(0);
    expect(await healthCheck(server.address, "cna.v1.WorkerService")).toEqual({ status: "SERVING" });
    const md = new Metadata();
    md.set("authorization", `Bearer ${TOKEN}`);
    expect(await reflectedServices(server.address, md)).toEqual(
      expect.arrayContaining(["cna.v1.WorkerService", "grpc.health.v1.Health"]),
    );
  });

  it("drains and reports the state after", async () => {
    expect(await unary(client, client.drain, {})).toEqual({ state: WorkerState.WORKER_STATE_STOPPED });
    expect(drained).toBe(1);
  });
});
