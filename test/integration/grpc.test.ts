/**
 * SweepService over real gRPC on 127.0.0.1:0, against an in-memory backend: every RPC, the
 * chunked ReportShard through GrpcResultSink, edge validation, bearer-token auth, health,
 * reflection, error mapping and TLS.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { CnaError, SpecError } from "../../core/index.ts";
import { startSweepServer } from "../../coordinator/grpc/index.ts";
import type { SweepServer } from "../../coordinator/grpc/index.ts";
import { ReportOutcome, Stage, SweepState, createSweepClient } from "../../proto/index.ts";
import type { ShardResultChunk, SweepServiceClient, SweepUpdate } from "../../proto/index.ts";
import { GrpcResultSink } from "../../worker/runtime/grpc-sink.ts";
import { FakeSweepBackend, storeHiccup } from "../helpers/grpc-backend.ts";
import {
  errorCodeOf,
  failure,
  healthCheck,
  opensslPrerequisite,
  reflectedServices,
  selfSignedCert,
  unary,
} from "../helpers/grpc.ts";

const YAML = "name: tiny-sweep\nmodels: [arith-2l-d64]\n";
const MIB = 1024 * 1024;

/** Sends raw ReportShard messages, as a misbehaving worker would. */
function rawReport(
  client: SweepServiceClient,
  messages: ShardResultChunk[],
  md = new Metadata(),
): Promise<ReportOutcome> {
  return new Promise((resolve, reject) => {
    const call = client.reportShard(md, { deadline: Date.now() + 10_000 }, (err, res) =>
      err ? reject(err) : resolve(res.outcome),
    );
    call.on("error", () => undefined);
    for (const m of messages) call.write(m);
    call.end();
  });
}

const header = (data: Buffer, patch: object = {}): ShardResultChunk => ({
  chunk: {
    $case: "header",
    header: {
      sweepId: "sw-1",
      shardId: "shard-a",
      worker: "w1",
      attempt: 1,
      totalBytes: data.length,
      sha256: sha256(data),
      ...patch,
    },
  },
});
const dataChunk = (data: Buffer): ShardResultChunk => ({ chunk: { $case: "data", data } });
const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

describe("SweepService over gRPC", () => {
  const backend = new FakeSweepBackend();
  let server: SweepServer;
  let client: SweepServiceClient;

  beforeAll(async () => {
    server = await startSweepServer({ backend, port: 0, maxResultBytes: 8 * MIB });
    client = createSweepClient(server.address);
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });

  it("binds an ephemeral port on 127.0.0.1", () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.address).toBe(`127.0.0.1:${server.port}`);
  });

  it("submits, gets, lists, serves rankings and cancels", async () => {
    const sweep = await unary(client, client.submitSweep, { sweepYaml: YAML, sourceName: "tiny.yaml" });
    expect(sweep).toMatchObject({
      id: "sw-1",
      name: "tiny-sweep",
      state: SweepState.SWEEP_STATE_RUNNING,
      cells: 2,
      etaSeconds: undefined,
    });
    expect(sweep.stages[0]).toEqual({
      stage: Stage.STAGE_HEAD_ABLATION,
      total: 4,
      expected: 4,
      stored: 0,
      quarantined: 0,
    });
    expect(sweep.createdAt).toEqual(new Date(Date.UTC(2025, 0, 1, 0, 0, 1)));

    expect((await unary(client, client.getSweep, { id: "sw-1" })).name).toBe("tiny-sweep");
    expect((await unary(client, client.listSweeps, {})).sweeps.map((s) => s.id)).toEqual(["sw-1"]);

    const rankings = await unary(client, client.getRankings, { id: "sw-1" });
    expect(JSON.parse(rankings.json)).toEqual({ schema: "cna-sweep/rankings@1", cells: [] });
    expect(rankings.final).toBe(false);

    const second = await unary(client, client.submitSweep, { sweepYaml: "name: other\n", sourceName: "" });
    const cancelled = await unary(client, client.cancelSweep, { id: second.id });
    expect(cancelled.state).toBe(SweepState.SWEEP_STATE_CANCELLED);
    expect((await unary(client, client.getRankings, { id: second.id })).final).toBe(true);
  });

  it("maps backend errors to gRPC status with the stable code in the trailer", async () => {
    const notFound = await failure(unary(client, client.getSweep, { id: "nope" }));
    expect(notFound.code).toBe(status.NOT_FOUND);
    expect(errorCodeOf(notFound)).toBe("SWEEP_NOT_FOUND");

    const badSpec = await failure(
      unary(client, client.submitSweep, { sweepYaml: "models: []\n", sourceName: "x.yaml" }),
    );
    expect(badSpec.code).toBe(status.INVALID_ARGUMENT);
    expect(errorCodeOf(badSpec)).toBe("BAD_SPEC");
    expect(badSpec.details).toContain("x.yaml");
  });

  it("validates requests at the edge, naming the field, without calling the backend", async () => {
    const before = backend.calls.length;
    for (const [p, field] of [
      [unary(client, client.getSweep, { id: "" }), "id"],
      [unary(client, client.cancelSweep, { id: " " }), "id"],
      [unary(client, client.getRankings, { id: "" }), "id"],
      [unary(client, client.submitSweep, { sweepYaml: "", sourceName: "a.yaml" }), "sweep_yaml"],
      [
        unary(client, client.reportFailure, {
          sweepId: "sw-1",
          shardId: "s",
          worker: "w",
          attempt: 0,
          code: "X",
          message: "",
          retryable: false,
        }),
        "attempt",
      ],
      [
        unary(client, client.reportFailure, {
          sweepId: "sw-1",
          shardId: "",
          worker: "w",
          attempt: 1,
          code: "X",
          message: "",
          retryable: false,
        }),
        "shard_id",
      ],
    ] as const) {
      const err = await failure(p);
      expect(err.code, field).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toMatch(new RegExp(`^${field}: `));
      expect(errorCodeOf(err)).toBe("BAD_REQUEST");
    }
    expect(backend.calls.length).toBe(before);
  });

  it("streams status snapshots until a terminal state, then ends", async () => {
    const sweep = await unary(client, client.submitSweep, { sweepYaml: "name: watched\n", sourceName: "w.yaml" });
    const updates: SweepUpdate[] = [];
    const stream = client.watchSweep({ id: sweep.id });
    const ended = new Promise<void>((resolve, reject) => {
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    await new Promise<void>((resolve) =>
      stream.on("data", (u: SweepUpdate) => {
        updates.push(u);
        if (updates.length === 1) resolve();
      }),
    );
    backend.update(sweep.id, { cellsDone: 1 });
    backend.update(sweep.id, { cellsDone: 2, state: "SUCCEEDED" });
    backend.update(sweep.id, { cellsDone: 3 }); // after the terminal snapshot: not sent
    await ended;
    expect(updates.map((u) => [u.sweep?.state, u.sweep?.cellsDone])).toEqual([
      [SweepState.SWEEP_STATE_RUNNING, 0],
      [SweepState.SWEEP_STATE_RUNNING, 1],
      [SweepState.SWEEP_STATE_SUCCEEDED, 2],
    ]);
    expect(backend.watcherCount(sweep.id)).toBe(0);
  });

  it("ends a watch of an unknown sweep with NOT_FOUND, and of a finished one after one snapshot", async () => {
    const err = await new Promise<ServiceError>((resolve) => client.watchSweep({ id: "nope" }).on("error", resolve));
    expect(err.code).toBe(status.NOT_FOUND);

    const done = await unary(client, client.submitSweep, { sweepYaml: "name: done\n", sourceName: "d.yaml" });
    backend.update(done.id, { state: "FAILED" });
    const seen: SweepUpdate[] = [];
    await new Promise<void>((resolve, reject) =>
      client
        .watchSweep({ id: done.id })
        .on("data", (u: SweepUpdate) => seen.push(u))
        .on("end", resolve)
        .on("error", reject),
    );
    expect(seen.map((u) => u.sweep?.state)).toEqual([SweepState.SWEEP_STATE_FAILED]);
    expect(backend.watcherCount(done.id)).toBe(0);
  });

  it("stops watching when the client cancels", async () => {
    const sweep = await unary(client, client.submitSweep, {
      sweepYaml: "name: cancelled-watch\n",
      sourceName: "c.yaml",
    });
    const stream = client.watchSweep({ id: sweep.id });
    stream.on("error", () => undefined);
    await new Promise((resolve) => stream.once("data", resolve));
    expect(backend.watcherCount(sweep.id)).toBe(1);
    stream.cancel();
    await expect.poll(() => backend.watcherCount(sweep.id)).toBe(0);
  });

  it("takes a 3 MiB result in 1 MiB chunks through GrpcResultSink, intact, and returns the outcome", async () => {
    await using sink = new GrpcResultSink({ address: server.address });
    const result = randomBytes(3 * MIB + 17);
    const report = { sweepId: "sw-1", shardId: "shard-big", worker: "w1", attempt: 1, result };
    expect(await sink.reportShard(report)).toBe("stored");
    const got = backend.reports.at(-1)!;
    expect(got).toMatchObject({ sweepId: "sw-1", shardId: "shard-big", worker: "w1", attempt: 1 });
    expect(Buffer.from(got.result).equals(result)).toBe(true);

    expect(await sink.reportShard({ ...report, attempt: 2 })).toBe("duplicate");
    const other = Buffer.from(result);
    other[0]! ^= 1;
    expect(await sink.reportShard({ ...report, attempt: 3, result: other })).toBe("duplicate-mismatch");
    await sink.report({ ...report, shardId: "shard-small", result: Buffer.from("{}") });
    expect(backend.reports.at(-1)!.shardId).toBe("shard-small");
    expect(backend.reports.at(-1)!.runMs).toBeUndefined();
    // the worker's compute time travels in the header, for the coordinator's latency metrics
    await sink.report({ ...report, shardId: "shard-timed", result: Buffer.from("{}"), runMs: 1234.4 });
    expect(backend.reports.at(-1)).toMatchObject({ shardId: "shard-timed", runMs: 1234 });
  });

  it("sends ReportFailure through GrpcResultSink", async () => {
    await using sink = new GrpcResultSink({ address: server.address });
    const f = {
      sweepId: "sw-1",
      shardId: "shard-x",
      worker: "w2",
      attempt: 3,
      code: "TOKENIZATION_FAILED",
      message: "unknown char",
      retryable: false,
    };
    await sink.fail(f);
    expect(backend.failures.at(-1)).toEqual(f);
  });

  it("rejects a malformed ReportShard with INVALID_ARGUMENT naming the field", async () => {
    const data = Buffer.from('{"kind":"head-ablation"}');
    const before = backend.calls.length;
    const cases: Array<[ShardResultChunk[], string]> = [
      [[dataChunk(data), header(data)], "header"],
      [[dataChunk(data)], "header"],
      [[], "header"],
      [[header(data), header(data), dataChunk(data)], "header"],
      [[header(data, { sha256: "0".repeat(64) }), dataChunk(data)], "header.sha256"],
      [[header(data, { sha256: "not-hex" }), dataChunk(data)], "header.sha256"],
      [[header(data, { totalBytes: data.length + 1 }), dataChunk(data)], "header.total_bytes"],
      [[header(data, { totalBytes: data.length - 1 }), dataChunk(data)], "data"],
      [[header(data, { shardId: "" }), dataChunk(data)], "header.shard_id"],
      [[header(data, { attempt: 0 }), dataChunk(data)], "header.attempt"],
      [[{ chunk: undefined }], "chunk"],
    ];
    for (const [messages, field] of cases) {
      const err = await failure(rawReport(client, messages));
      expect(err.code, `${field}: ${err.details}`).toBe(status.INVALID_ARGUMENT);
      expect(err.details.startsWith(`${field}: `), err.details).toBe(true);
    }
    expect(backend.calls.length).toBe(before);
    expect(await rawReport(client, [header(data, { shardId: "shard-raw" }), dataChunk(data)])).toBe(
      ReportOutcome.REPORT_OUTCOME_STORED,
    );
  });

  it("refuses a ReportShard declaring more than maxResultBytes with RESOURCE_EXHAUSTED naming --max-result-bytes", async () => {
    const data = Buffer.from('{"kind":"head-ablation"}');
    const before = backend.calls.length;
    const err = await failure(rawReport(client, [header(data, { totalBytes: 9 * MIB }), dataChunk(data)]));
    expect([err.code, errorCodeOf(err)]).toEqual([status.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED"]);
    expect(err.details).toBe(
      `header.total_bytes: ${9 * MIB} bytes is over the limit of ${8 * MIB} bytes per shard result (--max-result-bytes raises it)`,
    );
    expect(backend.calls.length).toBe(before);
  });

  it("leaves a single message over maxMessageBytes to gRPC: RESOURCE_EXHAUSTED before any handler", async () => {
    const big = createSweepClient(server.address, { maxMessageBytes: 16 * MIB });
    try {
      const data = randomBytes(5 * MIB);
      const before = backend.calls.length;
      const err = await failure(rawReport(big, [header(data, { shardId: "shard-huge-chunk" }), dataChunk(data)]));
      expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(backend.calls.length).toBe(before);
    } finally {
      big.close();
    }
  });

  it("classes ReportShard failures for the worker: retryable store error vs terminal bad result", async () => {
    await using sink = new GrpcResultSink({ address: server.address });
    const report = { sweepId: "sw-1", shardId: "shard-r", worker: "w1", attempt: 1, result: Buffer.from("{}") };

    backend.reportError = storeHiccup();
    const retry = await sink.reportShard(report).catch((e: unknown) => e);
    expect(retry).toBeInstanceOf(CnaError);
    expect(retry).toMatchObject({ code: "STORE_FAILED", retryable: true, grpcStatus: status.UNAVAILABLE });

    backend.reportError = new CnaError("not a shard of this sweep", { code: "BAD_RESULT", retryable: false });
    const terminal = await sink.reportShard(report).catch((e: unknown) => e);
    expect(terminal).toMatchObject({ code: "BAD_RESULT", retryable: false, grpcStatus: status.INVALID_ARGUMENT });

    backend.reportError = new Error("a bug");
    const internal = await sink.reportShard(report).catch((e: unknown) => e);
    expect(internal).toMatchObject({ code: "INTERNAL", retryable: false, grpcStatus: status.INTERNAL });
  });

  it("answers health checks", async () => {
    expect(await healthCheck(server.address)).toEqual({ status: "SERVING" });
    expect(await healthCheck(server.address, "cna.v1.SweepService")).toEqual({ status: "SERVING" });
  });

  it("reflects its services", async () => {
    const names = await reflectedServices(server.address);
    expect(names).toEqual(expect.arrayContaining(["cna.v1.SweepService", "grpc.health.v1.Health"]));
  });
});

describe("SweepService with a bearer token", () => {
  const TOKEN = "s3cret-token";
  const backend = new FakeSweepBackend();
  let server: SweepServer;

  beforeAll(async () => {
    server = await startSweepServer({ backend, token: TOKEN });
  });
  afterAll(() => server.close());

  it("refuses calls without the token before the backend sees them", async () => {
    const anonymous = createSweepClient(server.address);
    try {
      const err = await failure(unary(anonymous, anonymous.submitSweep, { sweepYaml: YAML, sourceName: "a.yaml" }));
      expect(err.code).toBe(status.UNAUTHENTICATED);
      expect(errorCodeOf(err)).toBe("UNAUTHENTICATED");
      const data = Buffer.from("{}");
      expect((await failure(rawReport(anonymous, [header(data), dataChunk(data)]))).code).toBe(status.UNAUTHENTICATED);
      const watch = await new Promise<ServiceError>((resolve) =>
        anonymous.watchSweep({ id: "sw-1" }).on("error", resolve),
      );
      expect(watch.code).toBe(status.UNAUTHENTICATED);
      expect((await failure(reflectedServices(server.address))).code).toBe(status.UNAUTHENTICATED);
    } finally {
      anonymous.close();
    }
    expect(backend.calls).toEqual([]);
  });

  it("refuses a wrong token", async () => {
    const wrong = createSweepClient(server.address, { token: "not-the-token" });
    try {
      const err = await failure(unary(wrong, wrong.listSweeps, {}));
      expect(err.code).toBe(status.UNAUTHENTICATED);
      expect(err.details).toContain("not valid");
    } finally {
      wrong.close();
    }
    await using sink = new GrpcResultSink({ address: server.address, token: "not-the-token" });
    const err = await sink
      .reportShard({ sweepId: "sw-1", shardId: "s", worker: "w", attempt: 1, result: Buffer.from("{}") })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "UNAUTHENTICATED", retryable: false });
    expect(backend.calls).toEqual([]);
  });

  it("serves calls with the token, and health without one", async () => {
    const client = createSweepClient(server.address, { token: TOKEN });
    try {
      const sweep = await unary(client, client.submitSweep, { sweepYaml: YAML, sourceName: "a.yaml" });
      expect(sweep.name).toBe("tiny-sweep");
    } finally {
      client.close();
    }
    await using sink = new GrpcResultSink({ address: server.address, token: TOKEN });
    expect(
      await sink.reportShard({ sweepId: "sw-1", shardId: "s", worker: "w", attempt: 1, result: Buffer.from("{}") }),
    ).toBe("stored");
    expect(await healthCheck(server.address)).toEqual({ status: "SERVING" });
    const md = new Metadata();
    md.set("authorization", `Bearer ${TOKEN}`);
    expect(await reflectedServices(server.address, md)).toContain("cna.v1.SweepService");
  });
});

describe("GrpcResultSink when the coordinator is away", () => {
  it("turns UNAVAILABLE into a retryable error", async () => {
    const backend = new FakeSweepBackend();
    const server = await startSweepServer({ backend });
    const address = server.address;
    await server.close();
    await using sink = new GrpcResultSink({ address });
    const err = await sink
      .reportShard({ sweepId: "sw-1", shardId: "s", worker: "w", attempt: 1, result: randomBytes(2 * MIB) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CnaError);
    expect(err).toMatchObject({ code: "GRPC_UNAVAILABLE", retryable: true, grpcStatus: status.UNAVAILABLE });
    const failErr = await sink
      .fail({ sweepId: "sw-1", shardId: "s", worker: "w", attempt: 1, code: "X", message: "", retryable: false })
      .catch((e: unknown) => e);
    expect(failErr).toMatchObject({ retryable: true });
  });

  it("close() cuts a call still running after the grace period", async () => {
    const backend = new FakeSweepBackend();
    let storing = false;
    backend.reportShard = () => {
      storing = true;
      return new Promise(() => undefined); // never stores
    };
    const server = await startSweepServer({ backend, shutdownGraceMs: 100 });
    await using sink = new GrpcResultSink({ address: server.address });
    const pending = sink
      .reportShard({ sweepId: "sw-1", shardId: "s", worker: "w", attempt: 1, result: Buffer.from("{}") })
      .catch((e: unknown) => e);
    await expect.poll(() => storing).toBe(true);
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(2_000);
    // cut by the server, the worker naks and reports again later (deduplicated by shard id)
    expect(await pending).toMatchObject({ code: "GRPC_CANCELLED", retryable: true });
  });

  it("turns a deadline into a retryable error", async () => {
    const backend = new FakeSweepBackend();
    backend.reportShard = () => new Promise(() => undefined); // never stores
    await using server = await startSweepServer({ backend, shutdownGraceMs: 0 });
    await using sink = new GrpcResultSink({ address: server.address, timeoutMs: 200 });
    const err = await sink
      .reportShard({ sweepId: "sw-1", shardId: "s", worker: "w", attempt: 1, result: Buffer.from("{}") })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "GRPC_DEADLINE_EXCEEDED", retryable: true });
  });

  it("ends open watches with UNAVAILABLE when the server closes", async () => {
    const backend = new FakeSweepBackend();
    const server = await startSweepServer({ backend });
    const client = createSweepClient(server.address);
    try {
      const sweep = await unary(client, client.submitSweep, { sweepYaml: YAML, sourceName: "a.yaml" });
      const stream = client.watchSweep({ id: sweep.id });
      const err = new Promise<ServiceError>((resolve) => stream.on("error", resolve));
      await new Promise((resolve) => stream.once("data", resolve));
      await server.close();
      expect((await err).code).toBe(status.UNAVAILABLE);
      expect(errorCodeOf(await err)).toBe("SHUTTING_DOWN");
      expect(backend.watcherCount(sweep.id)).toBe(0);
    } finally {
      client.close();
    }
  });
});

describe("SweepService over TLS", () => {
  const openssl = opensslPrerequisite;

  it.skipIf(openssl.skip)("serves a client that trusts its certificate and refuses plaintext", async () => {
    openssl.assert();
    using cert = selfSignedCert();
    const backend = new FakeSweepBackend();
    await using server = await startSweepServer({
      backend,
      tls: { certPath: cert.certPath, keyPath: cert.keyPath },
      token: "t0k3n",
    });
    const client = createSweepClient(server.address, {
      token: "t0k3n",
      tls: { caPath: cert.certPath, serverName: "localhost" },
    });
    const plain = createSweepClient(server.address, { token: "t0k3n" });
    try {
      expect((await unary(client, client.submitSweep, { sweepYaml: YAML, sourceName: "a.yaml" })).id).toBe("sw-1");
      await using sink = new GrpcResultSink({
        address: server.address,
        token: "t0k3n",
        tls: { caPath: cert.certPath, serverName: "localhost" },
      });
      expect(
        await sink.reportShard({
          sweepId: "sw-1",
          shardId: "s",
          worker: "w",
          attempt: 1,
          result: randomBytes(MIB + 1),
        }),
      ).toBe("stored");
      const err = await failure(unary(plain, plain.listSweeps, {}));
      expect(err.code).toBe(status.UNAVAILABLE);
    } finally {
      client.close();
      plain.close();
    }
  });

  it("names the TLS field it cannot read", async () => {
    await expect(
      startSweepServer({
        backend: new FakeSweepBackend(),
        tls: { certPath: "/nonexistent/cert.pem", keyPath: "/nonexistent/key.pem" },
      }),
    ).rejects.toMatchObject({
      code: "BAD_SPEC",
      field: "tls.certPath",
    });
    await expect(startSweepServer({ backend: new FakeSweepBackend(), port: 70_000 })).rejects.toBeInstanceOf(SpecError);
  });
});
