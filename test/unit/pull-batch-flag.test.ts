/** `cna worker --pull-batch N` reaches the worker's options and its JetStream queue's, validated and named in its errors. */
import { describe, expect, it } from "vitest";
import { resolveWorkerOptions } from "../../app/index.ts";
import { workerOptionsOf } from "../../cli/options.ts";
import { resolveJetStreamOptions } from "../../transport/index.ts";

const flags = (extra: Record<string, string>) => ({
  coordinator: "127.0.0.1:7070",
  nats: "nats://127.0.0.1:4222",
  ...extra,
});

describe("--pull-batch", () => {
  it("sets the shards one pull asks for; the default is 1", () => {
    const o = workerOptionsOf(flags({ "pull-batch": "8" }), {}, () => undefined);
    expect(resolveWorkerOptions(o).pullBatch).toBe(8);
    expect(resolveWorkerOptions(workerOptionsOf(flags({}), {}, () => undefined)).pullBatch).toBe(1);
    const js = { servers: "nats://127.0.0.1:4222", subjectOf: () => ({ sweep: "s", model: "m" }) };
    expect(resolveJetStreamOptions(js).pullBatch).toBe(1);
    expect(resolveJetStreamOptions({ ...js, pullBatch: 8 }).pullBatch).toBe(8);
  });

  it("refuses a value under 1 or not an integer, naming the flag or the field", () => {
    expect(() => workerOptionsOf(flags({ "pull-batch": "0" }), {}, () => undefined)).toThrow(/--pull-batch/);
    expect(() => workerOptionsOf(flags({ "pull-batch": "2.5" }), {}, () => undefined)).toThrow(/--pull-batch/);
    const t = { kind: "nats" as const, nats: { servers: "nats://127.0.0.1:4222" }, coordinator: "127.0.0.1:7070" };
    expect(() => resolveWorkerOptions({ transport: t, pullBatch: 0 })).toThrow(/pullBatch/);
    const js = { servers: "nats://127.0.0.1:4222", subjectOf: () => ({ sweep: "s", model: "m" }) };
    expect(() => resolveJetStreamOptions({ ...js, pullBatch: 0 })).toThrow(/pullBatch/);
  });
});
