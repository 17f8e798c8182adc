/**
 * Batched shard reports over real gRPC on 127.0.0.1:0: the coordinator's ReportShards (several
 * shards in one client stream, one outcome each, checked like ReportShard), and GrpcResultSink
 * grouping the reports that wait behind a call in flight, falling back to ReportShard when a
 * batch is refused or the coordinator predates ReportShards.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import type { ServiceError, UntypedServiceImplementation, sendUnaryData } from "@grpc/grpc-js";
import { CnaError } from "../../core/index.ts";
import type { ShardReport } from "../../core/index.ts";
import { startSweepServer } from "../../coordinator/grpc/index.ts";
import type { SweepServer } from "../../coordinator/grpc/index.ts";
import { ReportOutcome, SweepServiceService, createSweepClient, toGrpcStatus } from "../../proto/index.ts";
import type { ShardResultChunk, SweepServiceClient } from "../../proto/index.ts";
import { GrpcResultSink } from "../../worker/runtime/grpc-sink.ts";
import { FakeSweepBackend } from "../helpers/grpc-backend.ts";
import { errorCodeOf } from "../helpers/grpc.ts";

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const shard = (shardId: string, text = `{"shard":"${shardId}"}`): ShardReport => ({
  sweepId: "sw-1",
  shardId,
  worker: "w1",
  attempt: 1,
  result: Buffer.from(text),
});
const chunks = (r: ShardReport, patch: object = {}): ShardResultChunk[] => [
  {
    chunk: {
      $case: "header",
      header: {
        sweepId: r.sweepId,
        shardId: r.shardId,
        worker: r.worker,
        attempt: r.attempt,
        totalBytes: r.result.length,
        sha256: sha256(r.result),
        ...patch,
      },
    },
  },
  { chunk: { $case: "data", data: Buffer.from(r.result) } },
];

/** Sends raw ReportShards messages; resolves with the outcomes. */
function rawBatch(client: SweepServiceClient, messages: ShardResultChunk[]): Promise<ReportOutcome[]> {
  return new Promise((resolve, reject) => {
    const call = client.reportShards({ deadline: Date.now() + 10_000 }, (err, res) =>
      err ? reject(err) : resolve(res.outcomes),
    );
    call.on("error", () => undefined);
    for (const m of messages) call.write(m);
    call.end();
  });
}

describe("ReportShards on the coordinator", () => {
  const backend = new FakeSweepBackend();
  let server: SweepServer;
  let client: SweepServiceClient;

  beforeAll(async () => {
    server = await startSweepServer({ backend, port: 0, maxResultBytes: 64 });
    client = createSweepClient(server.address);
    await backend.submit("name: batch\n", "t");
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });

  it("stores every shard of one stream and answers their outcomes in the order sent", async () => {
    const outcomes = await rawBatch(client, [
      ...chunks(shard("b-1")),
      ...chunks(shard("b-2")),
      ...chunks(shard("b-1")),
      ...chunks(shard("b-2", "{}")),
    ]);
    expect(outcomes).toEqual([
      ReportOutcome.REPORT_OUTCOME_STORED,
      ReportOutcome.REPORT_OUTCOME_STORED,
      ReportOutcome.REPORT_OUTCOME_DUPLICATE,
      ReportOutcome.REPORT_OUTCOME_DUPLICATE_MISMATCH,
    ]);
    expect(backend.reports.map((r) => r.shardId)).toEqual(["b-1", "b-2", "b-1", "b-2"]);
  });

  it("refuses the whole batch, storing none of it, when one shard's header is wrong", async () => {
    const before = backend.reports.length;
    const err = (await rawBatch(client, [...chunks(shard("c-1")), ...chunks(shard("c-2"), { sha256: "x" })]).catch(
      (e: unknown) => e,
    )) as ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(errorCodeOf(err)).toBe("BAD_REQUEST");
    expect(err.details).toContain("header.sha256");
    const lone = (await rawBatch(client, [chunks(shard("c-3"))[1]!]).catch((e: unknown) => e)) as ServiceError;
    expect(lone.details).toContain("the first chunk must be the header");
    expect(backend.reports.length).toBe(before);
  });

  it("refuses a batch whose results together are over maxResultBytes, naming --max-result-bytes", async () => {
    const each = "x".repeat(40); // under the 64-byte limit alone, over it together
    const err = (await rawBatch(client, [...chunks(shard("d-1", each)), ...chunks(shard("d-2", each))]).catch(
      (e: unknown) => e,
    )) as ServiceError;
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toContain("--max-result-bytes");
  });
});

interface SeenCall {
  rpc: "ReportShard" | "ReportShards";
  shards: string[];
}

/**
 * A SweepService that answers only reports, recording which RPC carried which shards. `hold`
 * keeps the first call unanswered until released; `refuse` answers ReportShards (and a
 * ReportShard of the named shards) with that error; `batches: false` leaves ReportShards
 * unimplemented, as on a coordinator that predates it.
 */
async function stubCoordinator(o: { hold?: boolean; refuse?: CnaError; refuseShards?: string[]; batches?: boolean }) {
  const seen: SeenCall[] = [];
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const receive = (
    rpc: SeenCall["rpc"],
    call: NodeJS.EventEmitter,
    answer: (shards: string[]) => Promise<void>,
  ): void => {
    const shards: string[] = [];
    call.on("data", (m: ShardResultChunk) => {
      if (m.chunk?.$case === "header") shards.push(m.chunk.header.shardId);
    });
    call.on("end", () => {
      seen.push({ rpc, shards });
      void (seen.length === 1 && o.hold ? held : Promise.resolve()).then(() => answer(shards));
    });
  };
  const impl: UntypedServiceImplementation = {
    reportShard: (call: NodeJS.EventEmitter, cb: sendUnaryData<unknown>) =>
      receive("ReportShard", call, async (shards) =>
        o.refuse && o.refuseShards?.includes(shards[0]!)
          ? cb(toGrpcStatus(o.refuse))
          : cb(null, { outcome: ReportOutcome.REPORT_OUTCOME_STORED }),
      ),
  };
  if (o.batches !== false)
    impl.reportShards = (call: NodeJS.EventEmitter, cb: sendUnaryData<unknown>) =>
      receive("ReportShards", call, async (shards) =>
        o.refuse
          ? cb(toGrpcStatus(o.refuse))
          : cb(null, { outcomes: shards.map(() => ReportOutcome.REPORT_OUTCOME_STORED) }),
      );
  const server = new Server();
  server.addService(SweepServiceService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    seen,
    release,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** Reports s-0 (held by the stub), then s-1..s-4 while it is in flight. */
async function reportFive(sink: GrpcResultSink, stub: { seen: SeenCall[]; release: () => void }) {
  const first = sink.report(shard("s-0")).then(
    () => "ok",
    (e: unknown) => e,
  );
  await expect.poll(() => stub.seen.length).toBe(1);
  const rest = ["s-1", "s-2", "s-3", "s-4"].map((id) =>
    sink.report(shard(id)).then(
      () => "ok",
      (e: unknown) => e,
    ),
  );
  stub.release();
  return Promise.all([first, ...rest]);
}

describe("GrpcResultSink batching", () => {
  it("sends a lone report at once, and the reports waiting behind it in one ReportShards call", async () => {
    await using stub = await stubCoordinator({ hold: true });
    await using sink = new GrpcResultSink({ address: stub.address });
    expect(await reportFive(sink, stub)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    expect(stub.seen).toEqual([
      { rpc: "ReportShard", shards: ["s-0"] },
      { rpc: "ReportShards", shards: ["s-1", "s-2", "s-3", "s-4"] },
    ]);
  });

  it("with batchShards 1, reports every shard with its own ReportShard", async () => {
    await using stub = await stubCoordinator({ hold: true });
    await using sink = new GrpcResultSink({ address: stub.address, batchShards: 1 });
    expect(await reportFive(sink, stub)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    expect(stub.seen.map((c) => c.rpc)).toEqual(Array(5).fill("ReportShard"));
  });

  it("reports a terminally refused batch again shard by shard, so each learns its own outcome", async () => {
    const refuse = new CnaError("not a shard of this sweep", { code: "BAD_RESULT", retryable: false });
    await using stub = await stubCoordinator({ hold: true, refuse, refuseShards: ["s-3"] });
    await using sink = new GrpcResultSink({ address: stub.address });
    const got = await reportFive(sink, stub);
    expect(got.filter((g) => g === "ok")).toHaveLength(4);
    expect(got[3]).toMatchObject({ code: "BAD_RESULT", retryable: false });
    expect(stub.seen[1]).toEqual({ rpc: "ReportShards", shards: ["s-1", "s-2", "s-3", "s-4"] });
    expect(
      stub.seen
        .slice(2)
        .map((c) => c.shards[0])
        .sort(),
    ).toEqual(["s-1", "s-2", "s-3", "s-4"]);
  });

  it("fails every report of a batch refused retryably, so each is reported again", async () => {
    const refuse = new CnaError("the store is busy", { code: "STORE_FAILED", retryable: true });
    await using stub = await stubCoordinator({ hold: true, refuse });
    await using sink = new GrpcResultSink({ address: stub.address });
    const got = await reportFive(sink, stub);
    expect(got[0]).toBe("ok");
    for (const g of got.slice(1)) expect(g).toMatchObject({ code: "STORE_FAILED", retryable: true });
    expect(stub.seen).toHaveLength(2);
  });

  it("falls back to ReportShard for good on a coordinator without ReportShards", async () => {
    await using stub = await stubCoordinator({ hold: true, batches: false });
    await using sink = new GrpcResultSink({ address: stub.address });
    expect(await reportFive(sink, stub)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    // the refused batch was never seen by a handler; every shard came alone
    expect(stub.seen.map((c) => c.rpc)).toEqual(Array(5).fill("ReportShard"));
    await sink.report(shard("s-5"));
    expect(stub.seen.at(-1)).toEqual({ rpc: "ReportShard", shards: ["s-5"] });
  });

  it("refuses a batchShards that is not an integer from 1 to 1024, naming it", () => {
    expect(() => new GrpcResultSink({ address: "127.0.0.1:1", batchShards: 0 })).toThrow(/batchShards/);
  });
});
