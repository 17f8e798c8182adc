/**
 * Property-based fuzzing of every SweepService and WorkerService call over real gRPC on
 * 127.0.0.1:0, against a real coordinator (its store in a temp dir, the in-process queue) and a
 * real worker service (ONNX Runtime on the zoo). Requests are generated, mutated from valid
 * ones, or raw bytes that are not protobuf at all; ReportShard and ReportShards streams come with duplicated,
 * reordered, oversized and cut-off chunks and digests that do not match. Every refusal must carry
 * a stable code in `cna-error-code` and a status other than INTERNAL/UNKNOWN; no call may bring
 * a server down: after each fuzz, a valid request is still served. Runs are seeded (FUZZ_SEED
 * overrides); fast-check prints the seed and the shrunk counterexample of a failure.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client, Metadata, credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCoordinator } from "../../app/index.ts";
import type { RunningCoordinator } from "../../app/index.ts";
import { Analysis, ReportOutcome, createSweepClient, createWorkerClient } from "../../proto/index.ts";
import type { ShardResultChunk, SweepServiceClient, WorkerServiceClient } from "../../proto/index.ts";
import { ModelCache, analyzePrompt } from "../../worker/index.ts";
import { startWorkerServer } from "../../worker/runtime/grpc-server.ts";
import type { WorkerServer } from "../../worker/runtime/grpc-server.ts";
import { unary } from "../helpers/grpc.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_204);
const ZOO = fileURLToPath(new URL("../../models", import.meta.url));
const MODEL = join(ZOO, "arith-2l-d64");
const MAX_MESSAGE = 64 * 1024;
const MAX_RESULT = 256 * 1024;
const SWEEP = `name: fuzzed\nmodels: [{ id: m, path: ${JSON.stringify(MODEL)} }]\noperators: ["+"]\nstages: [head-ablation]\nshard: { pairs: 50 }\n`;
const params = (runs: number) => ({ seed: SEED, numRuns: runs, endOnFailure: true });

/** How a call ended: its response, or its status, `cna-error-code` and details. */
type Outcome = { ok: true; value: unknown } | { ok: false; status: status; code: unknown; details: string };

const outcomeOf = (p: Promise<unknown>): Promise<Outcome> =>
  p.then(
    (value) => ({ ok: true, value }),
    (err: ServiceError) => ({
      ok: false,
      status: err.code,
      code: err.metadata?.get("cna-error-code")[0],
      details: err.details ?? String(err),
    }),
  );

/** A refusal of ours: a stable code, and a status that says what went wrong (never a bug's INTERNAL). */
function expectNamedRefusal(o: Outcome, what: string): void {
  if (o.ok) return;
  expect([status.INTERNAL, status.UNKNOWN], `${what}: ${status[o.status]} ${o.details}`).not.toContain(o.status);
  expect(o.code, `${what}: ${status[o.status]} ${o.details}`).toMatch(/^[A-Z][A-Z0-9_]+$/);
  expect(o.details).not.toMatch(/unexpected error/i);
}

/** Calls a method with `bytes` as the request, undecoded: what a client speaking another schema (or none) sends. */
function rawCall(address: string, path: string, bytes: Buffer): Promise<unknown> {
  const raw = new Client(address, credentials.createInsecure());
  const ser = (b: Buffer) => b;
  const options = { deadline: Date.now() + 10_000 };
  return new Promise<unknown>((resolve, reject) => {
    const done = (err: ServiceError | null, res?: unknown) => (err ? reject(err) : resolve(res));
    if (path.endsWith("/ReportShard") || path.endsWith("/ReportShards")) {
      const call = raw.makeClientStreamRequest(path, ser, ser, new Metadata(), options, done);
      call.write(bytes);
      call.end();
    } else if (path.endsWith("/WatchSweep")) {
      const call = raw.makeServerStreamRequest(path, ser, ser, bytes, new Metadata(), options);
      call.on("data", () => call.cancel()); // a snapshot: the request decoded
      call.on("error", (err: ServiceError) => (err.code === status.CANCELLED ? resolve(null) : reject(err)));
      call.on("end", () => resolve(null));
    } else {
      raw.makeUnaryRequest(path, ser, ser, bytes, new Metadata(), options, done);
    }
  }).finally(() => raw.close());
}

describe("SweepService under fuzzing", () => {
  let dir: string;
  let running: RunningCoordinator;
  let client: SweepServiceClient;
  let sweepId: string;
  let shardIds: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cna-fuzz-grpc-"));
    running = await startCoordinator({
      dataDir: dir,
      listen: { host: "127.0.0.1", port: 0 },
      maxMessageBytes: MAX_MESSAGE,
      maxResultBytes: MAX_RESULT,
    });
    client = createSweepClient(running.address!, {});
    const sweep = await unary(client, client.submitSweep, { sweepYaml: SWEEP, sourceName: "fuzz.yaml" });
    sweepId = sweep.id;
    const journal = readFileSync(join(dir, "sweeps", sweepId, "journal.jsonl"), "utf8");
    shardIds = [...journal.matchAll(/"type":"shard-published","sweepId":"[^"]+","shardId":"([^"]+)"/g)].map(
      (m) => m[1]!,
    );
    expect(shardIds.length).toBeGreaterThan(0);
  });
  afterAll(async () => {
    client?.close();
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** After the fuzz: the server still answers a valid request with the right answer. */
  async function stillServes(): Promise<void> {
    const sweep = await unary(client, client.getSweep, { id: sweepId });
    expect(sweep.id).toBe(sweepId);
    expect(readdirSync(join(dir, "sweeps")).length).toBeGreaterThan(0);
  }

  const id = fc.oneof(
    fc.constant(""),
    fc.string({ maxLength: 80 }),
    fc.constantFrom("x", "../../etc", "a".repeat(500), "%00", "sweep\u0000id"),
    fc.constant(null).map(() => sweepId),
  );

  // Deterministic examples of what the fuzzers found (each failed before its fix).
  it("regression: bytes that are not a request end with BAD_REQUEST, not INTERNAL", async () => {
    const o = await outcomeOf(
      rawCall(running.address!, "/cna.v1.SweepService/CancelSweep", Buffer.from([177, 51, 121, 178])),
    );
    expect(o).toMatchObject({ ok: false, status: status.INVALID_ARGUMENT, code: "BAD_REQUEST" });
    await stillServes();
  });

  it("regression: a result that is not JSON, or not a partial of its stage, is BAD_RESULT and is not stored", async () => {
    const header = (bytes: Uint8Array): ShardResultChunk => ({
      chunk: {
        $case: "header",
        header: {
          sweepId,
          shardId: shardIds[0]!,
          worker: "w",
          attempt: 1,
          totalBytes: bytes.length,
          sha256: sha(bytes),
        },
      },
    });
    for (const text of [
      "vB\u008c\u009c\u0006E",
      '{"kind":"head-ablation"}',
      '{"kind":"head-ablation","dims":{"nLayer":2,"nHead":4,"dMlp":256},"cases":1,"baselineCorrect":1,"baselineProbSum":1,"correct":[1],"probSum":[1]}',
    ]) {
      const bytes = new TextEncoder().encode(text);
      const o = await report([header(bytes), { chunk: { $case: "data", data: Buffer.from(bytes) } }], null);
      expect(o, text).toMatchObject({ ok: false, status: status.INVALID_ARGUMENT, code: "BAD_RESULT" });
    }
    const sweep = await unary(client, client.getSweep, { id: sweepId });
    expect(sweep.stages.reduce((n, st) => n + st.stored, 0)).toBe(0);
  });

  it("unary calls with generated requests", async () => {
    const yamlText = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.constantFrom(
        "",
        "name: x",
        "{",
        "models: *a",
        "- - - -",
        "name: a\nmodels: []",
        SWEEP.replace("stages", "stagez"),
      ),
      fc
        .tuple(fc.nat(), fc.string({ maxLength: 6 }))
        .map(([at, s]) => SWEEP.slice(0, at % SWEEP.length) + s + SWEEP.slice(at % SWEEP.length)),
    );
    const request = fc.oneof(
      fc.record({
        m: fc.constant("submitSweep" as const),
        req: fc.record({
          sweepYaml: yamlText,
          sourceName: fc.string({ maxLength: 40 }),
          fresh: fc.option(fc.boolean(), { nil: undefined }),
        }),
      }),
      fc.record({ m: fc.constantFrom("getSweep" as const, "getRankings" as const), req: fc.record({ id }) }),
      fc.record({ m: fc.constant("cancelSweep" as const), req: fc.record({ id: id.filter((x) => x !== sweepId) }) }),
      fc.record({ m: fc.constant("listSweeps" as const), req: fc.constant({}) }),
      fc.record({
        m: fc.constant("reportFailure" as const),
        req: fc.record({
          sweepId: id,
          shardId: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom("", "x")),
          worker: fc.string({ maxLength: 20 }),
          attempt: fc.nat({ max: 2 ** 32 - 1 }),
          code: fc.string({ maxLength: 20 }),
          message: fc.string({ maxLength: 100 }),
          retryable: fc.boolean(),
        }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(request, async ({ m, req }) => {
        const method = client[m] as unknown as Parameters<typeof unary>[1];
        expectNamedRefusal(await outcomeOf(unary(client, method, req as never)), m);
      }),
      params(150),
    );
    await stillServes();
  });

  /** One ReportShard (or ReportShards) stream: the chunks in order, then half-close, or a cancel after `cancelAfter` chunks. */
  function report(
    chunks: readonly ShardResultChunk[],
    cancelAfter: number | null,
    rpc: "reportShard" | "reportShards" = "reportShard",
  ): Promise<Outcome> {
    return new Promise((resolve) => {
      const callback = (err: ServiceError | null, res?: unknown): void =>
        resolve(
          err
            ? { ok: false, status: err.code, code: err.metadata?.get("cna-error-code")[0], details: err.details }
            : { ok: true, value: res },
        );
      const call = rpc === "reportShard" ? client.reportShard(callback) : client.reportShards(callback);
      chunks.forEach((c, i) => {
        if (cancelAfter === i) call.cancel();
        if (cancelAfter === null || i < cancelAfter) call.write(c);
      });
      if (cancelAfter === null || cancelAfter >= chunks.length) call.end();
    });
  }

  /** A partial of the shape a worker sends for this sweep's head-ablation shards (arith-2l-d64: 2 layers, 4 heads). */
  const headAblation = fc.record({
    kind: fc.constant("head-ablation"),
    dims: fc.constant({ nLayer: 2, nHead: 4, dMlp: 256 }),
    cases: fc.nat({ max: 100 }),
    baselineCorrect: fc.nat({ max: 100 }),
    baselineProbSum: fc.double({ min: 0, max: 100, noNaN: true }),
    correct: fc.array(fc.nat({ max: 100 }), { minLength: 8, maxLength: 8 }),
    probSum: fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 8, maxLength: 8 }),
  });
  const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
  /** A result stream and the ways it can be wrong (weighted so that a good share are well-formed and stored). */
  const stream = fc.record({
    payload: fc.oneof(
      { weight: 3, arbitrary: headAblation.map((p) => new TextEncoder().encode(JSON.stringify(p))) },
      fc.uint8Array({ maxLength: 3_000 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => new TextEncoder().encode(JSON.stringify(v) ?? "null")),
      fc
        .constantFrom('{"kind":"head-ablation"}', '{"kind":"verify","cases":-1}', "{}", "null")
        .map((t) => new TextEncoder().encode(t)),
    ),
    realSweep: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, fc.constant(false)),
    shard: fc.oneof({ weight: 3, arbitrary: fc.nat() }, fc.string({ maxLength: 40 })),
    worker: fc.oneof({ weight: 3, arbitrary: fc.constant("w") }, fc.string({ maxLength: 20 })),
    attempt: fc.oneof(fc.constant(1), fc.nat({ max: 2 ** 32 - 1 })),
    declared: fc.oneof(
      { weight: 4, arbitrary: fc.constant("exact" as const) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) },
    ),
    digest: fc.oneof(
      { weight: 4, arbitrary: fc.constant("exact" as const) },
      { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 70 }), fc.constant("0".repeat(64))) },
    ),
    chunkBytes: fc.integer({ min: 1, max: 1_024 }),
    edit: fc.constantFrom(
      "none",
      "none",
      "none",
      "duplicate-chunk",
      "swap-chunks",
      "no-header",
      "two-headers",
      "header-last",
      "empty-chunk",
      "oversized-chunk",
    ),
    at: fc.nat(),
    cancelAfter: fc.option(fc.nat({ max: 6 }), { nil: null, freq: 4 }),
  });
  type Generated = typeof stream extends fc.Arbitrary<infer G> ? G : never;
  /** Built inside the property, so that a counterexample prints the recipe, not a 64 KiB chunk. */
  const build = (g: Generated) => {
    const header: ShardResultChunk = {
      chunk: {
        $case: "header",
        header: {
          sweepId: g.realSweep ? sweepId : `x${g.shard}`,
          shardId: typeof g.shard === "number" ? shardIds[g.shard % shardIds.length]! : g.shard,
          worker: g.worker,
          attempt: g.attempt,
          totalBytes: g.declared === "exact" ? g.payload.length : g.declared,
          sha256: g.digest === "exact" ? sha(g.payload) : g.digest,
        },
      },
    };
    const data: ShardResultChunk[] = [];
    for (let i = 0; i < g.payload.length; i += g.chunkBytes)
      data.push({ chunk: { $case: "data", data: Buffer.from(g.payload.subarray(i, i + g.chunkBytes)) } });
    const pick = data.length === 0 ? 0 : g.at % data.length;
    let chunks = [header, ...data];
    if (g.edit === "duplicate-chunk" && data.length > 0) chunks.splice(1 + pick, 0, data[pick]!);
    if (g.edit === "swap-chunks" && data.length > 1) [chunks[1], chunks[2]] = [chunks[2]!, chunks[1]!];
    if (g.edit === "no-header") chunks = data;
    if (g.edit === "two-headers") chunks.splice(1 + pick, 0, header);
    if (g.edit === "header-last") chunks = [...data, header];
    if (g.edit === "empty-chunk") chunks.splice(1 + pick, 0, {} as ShardResultChunk);
    if (g.edit === "oversized-chunk")
      chunks.splice(1 + pick, 0, { chunk: { $case: "data", data: Buffer.alloc(MAX_MESSAGE + 1) } });
    return { chunks, cancelAfter: g.cancelAfter, edit: g.edit };
  };

  it("ReportShard streams: cut off, duplicated, reordered, oversized, with digests that do not match", async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(stream, async (g) => {
        const { chunks, cancelAfter, edit } = build(g);
        const o = await report(chunks, cancelAfter);
        const what = `ReportShard (${edit}, cancel after ${cancelAfter})`;
        if (!o.ok) {
          const key = typeof o.code === "string" ? o.code : status[o.status];
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
        if (!o.ok && o.status === status.CANCELLED && cancelAfter !== null) return; // we cut it off
        if (!o.ok && o.code === undefined && o.status === status.RESOURCE_EXHAUSTED && edit === "oversized-chunk") {
          // the transport's own limit, enforced by grpc-js before any handler (the client names it MESSAGE_TOO_LARGE)
          expect(o.details).toMatch(/larger than max/);
          return;
        }
        expectNamedRefusal(o, what);
        if (o.ok) {
          const outcome = (o.value as { outcome: ReportOutcome }).outcome;
          expect(Object.values(ReportOutcome)).toContain(outcome);
          outcomes.set(ReportOutcome[outcome], (outcomes.get(ReportOutcome[outcome]) ?? 0) + 1);
        }
      }),
      params(200),
    );
    // the stream checks were reached, not only the first refusal
    expect([...outcomes.keys()]).toEqual(
      expect.arrayContaining([
        "BAD_REQUEST",
        "BAD_RESULT",
        "REPORT_OUTCOME_STORED",
        "REPORT_OUTCOME_DUPLICATE_MISMATCH",
      ]),
    );
    await stillServes();
  });

  it("ReportShards streams: several shards, each cut off, duplicated, reordered or oversized", async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(stream, { minLength: 1, maxLength: 4 }), async (gs) => {
        const built = gs.map(build);
        const chunks = built.flatMap((b) => b.chunks);
        const cancelAfter = built[0]!.cancelAfter;
        const edits = built.map((b) => b.edit);
        const o = await report(chunks, cancelAfter, "reportShards");
        const what = `ReportShards (${edits.join(", ")}, cancel after ${cancelAfter})`;
        if (!o.ok) {
          const key = typeof o.code === "string" ? o.code : status[o.status];
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
        if (!o.ok && o.status === status.CANCELLED && cancelAfter !== null) return; // we cut it off
        if (
          !o.ok &&
          o.code === undefined &&
          o.status === status.RESOURCE_EXHAUSTED &&
          edits.includes("oversized-chunk")
        ) {
          expect(o.details).toMatch(/larger than max/);
          return;
        }
        expectNamedRefusal(o, what);
        if (o.ok) {
          // one outcome per header sent, each a known one
          const got = (o.value as { outcomes: ReportOutcome[] }).outcomes;
          expect(got).toHaveLength(chunks.filter((c) => c.chunk?.$case === "header").length);
          for (const outcome of got) expect(Object.values(ReportOutcome)).toContain(outcome);
          outcomes.set("ok", (outcomes.get("ok") ?? 0) + 1);
        }
      }),
      params(150),
    );
    expect([...outcomes.keys()]).toEqual(expect.arrayContaining(["BAD_REQUEST", "BAD_RESULT", "ok"]));
    await stillServes();
  });

  it("WatchSweep with generated ids: a first snapshot, or a named refusal", async () => {
    const watchOnce = (req: { id: string }) =>
      new Promise<Outcome>((resolve) => {
        const call = client.watchSweep(req);
        call.on("data", (update: unknown) => {
          resolve({ ok: true, value: update });
          call.cancel();
        });
        call.on("error", (err: ServiceError) =>
          resolve(
            err.code === status.CANCELLED
              ? { ok: true, value: null }
              : { ok: false, status: err.code, code: err.metadata?.get("cna-error-code")[0], details: err.details },
          ),
        );
        call.on("end", () => resolve({ ok: true, value: null }));
      });
    await fc.assert(
      fc.asyncProperty(id, async (sweep) => expectNamedRefusal(await watchOnce({ id: sweep }), `WatchSweep ${sweep}`)),
      params(60),
    );
    await stillServes();
  });

  it("requests that are not protobuf, to every method", async () => {
    const methods = [
      "SubmitSweep",
      "GetSweep",
      "ListSweeps",
      "CancelSweep",
      "GetRankings",
      "ReportFailure",
      "WatchSweep",
      "ReportShard",
      "ReportShards",
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...methods), fc.uint8Array({ maxLength: 64 }), async (m, bytes) => {
        expectNamedRefusal(
          await outcomeOf(rawCall(running.address!, `/cna.v1.SweepService/${m}`, Buffer.from(bytes))),
          m,
        );
      }),
      params(100),
    );
    await stillServes();
  });
});

describe("WorkerService under fuzzing", () => {
  let models: ModelCache;
  let server: WorkerServer;
  let client: WorkerServiceClient;

  beforeAll(async () => {
    models = new ModelCache({ provider: "cpu", intraOpThreads: 1 });
    server = await startWorkerServer({
      describe: () => ({
        id: "fuzz",
        state: "RUNNING",
        provider: "cpu",
        modelsLoaded: [],
        inFlight: 0,
        version: "0",
        commit: "0",
        resultFormatVersion: 1,
        executionProviders: ["cpu"],
      }),
      analyze: (req) => analyzePrompt(models, req),
      drain: async () => {},
      port: 0,
      maxMessageBytes: MAX_MESSAGE,
    });
    client = createWorkerClient(server.address, {});
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
    await models?.close();
  });

  const stillServes = async () => {
    const res = await unary(client, client.analyze, {
      modelPath: MODEL,
      prompt: "1+2=",
      analysis: Analysis.ANALYSIS_HEAD_ABLATION,
    });
    expect(JSON.parse(res.json)).toBeTypeOf("object");
  };

  it("Analyze, Describe and Drain with generated requests", async () => {
    const prompt = fc.oneof(
      fc.constantFrom("1+2=", "12+34=", "", "=", "9*9=", "1+1=\u00e9"),
      fc.string({ maxLength: 30 }),
      fc.string({ unit: "grapheme", maxLength: 10 }),
    );
    const analyze = fc.record({
      modelPath: fc.oneof(
        { weight: 3, arbitrary: fc.constant(MODEL) },
        fc.constantFrom("", "/", "/etc", "models", join(ZOO, "nope"), ZOO),
        fc.string({ maxLength: 30 }),
      ),
      prompt,
      targetToken: fc.option(fc.oneof(fc.constantFrom("3", "", "\u0000", "99"), fc.string({ maxLength: 4 })), {
        nil: undefined,
      }),
      // the valid enum values and ones no client of this schema would send
      analysis: fc.oneof(
        fc.constantFrom(
          Analysis.ANALYSIS_HEAD_ABLATION,
          Analysis.ANALYSIS_CNA,
          Analysis.ANALYSIS_VERIFY,
          Analysis.ANALYSIS_ATTRIBUTION,
        ),
        fc.integer({ min: -1, max: 9 }),
      ),
      head: fc.option(
        fc.record({
          layer: fc.oneof(fc.nat({ max: 3 }), fc.nat({ max: 2 ** 32 - 1 })),
          head: fc.oneof(fc.nat({ max: 5 }), fc.nat({ max: 2 ** 32 - 1 })),
        }),
        { nil: undefined },
      ),
    });
    const call = fc.oneof(
      { weight: 8, arbitrary: analyze.map((req) => ({ m: "analyze" as const, req })) },
      { weight: 1, arbitrary: fc.constant({ m: "describe" as const, req: {} }) },
      { weight: 1, arbitrary: fc.constant({ m: "drain" as const, req: {} }) },
    );
    await fc.assert(
      fc.asyncProperty(call, async ({ m, req }) => {
        const method = client[m] as unknown as Parameters<typeof unary>[1];
        expectNamedRefusal(await outcomeOf(unary(client, method, req as never)), `${m} ${JSON.stringify(req)}`);
      }),
      params(60),
    );
    await stillServes();
  });

  it("requests that are not protobuf", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("Describe", "Analyze", "Drain"),
        fc.uint8Array({ maxLength: 64 }),
        async (m, bytes) => {
          expectNamedRefusal(
            await outcomeOf(rawCall(server.address, `/cna.v1.WorkerService/${m}`, Buffer.from(bytes))),
            m,
          );
        },
      ),
      params(60),
    );
    await stillServes();
  });
});
