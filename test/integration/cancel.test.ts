/**
 * CancelSweep on a sweep of over 100k shards: publishing stops at once (within a second, and
 * nothing is published after cancel() resolves), the shards still queued are purged, and workers
 * (real ShardWorkers with a no-op executor) that held one when the sweep was cancelled have their
 * results discarded and ack them, without an error. ReportFailure over gRPC for a shard the sweep
 * does not have is NOT_FOUND and records nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { Coordinator, readJournal, startSweepServer } from "../../coordinator/index.ts";
import { MemoryShardQueue, encodePartial } from "../../core/index.ts";
import type { AnyPartial, ResultSink, ShardTask } from "../../core/index.ts";
import { ModelCache, ShardWorker } from "../../worker/index.ts";
import type { WorkerEvent } from "../../worker/index.ts";
import { createSweepClient } from "../../proto/index.ts";
import { digestPath } from "../helpers/digest.ts";
import { ForwardingQueue } from "../helpers/queues.ts";
import { errorCodeOf, failure, unary } from "../helpers/grpc.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-cancel-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 4 models × 4 operators × every 2D pair (8,100 each), one pair per shard: 129,600 shards. */
const YAML = `name: big
models:
${[0, 1, 2, 3].map((i) => `  - { id: m${i}, path: /nonexistent/m${i} }`).join("\n")}
operators: ["+", "-", "*", "/"]
digits: [2]
cases: { sample: all }
stages: [head-ablation]
shard: { pairs: 1 }
`;

/** The in-process queue, with every publish taking a turn of the event loop (as a broker round trip does) and counted. */
class CountingQueue extends ForwardingQueue {
  override async publish(id: string, data: ShardTask): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    return super.publish(id, data);
  }
}

describe("CancelSweep", () => {
  it("stops publishing, purges what is queued and discards what workers still report", async () => {
    const queue = new CountingQueue();
    const coordinator = new Coordinator({ dataDir: join(dir, "data"), queue, digestModel: digestPath });
    await coordinator.start();
    try {
      const submitted = coordinator.submit(YAML, "big.yaml");
      let failed: Error | undefined;
      submitted.catch((err: Error) => (failed = err));
      // the sweep is listed while its shards are still being published
      const until = Date.now() + 60_000;
      while ((coordinator.list().length === 0 || queue.published < 2_000) && Date.now() < until && failed === undefined)
        await new Promise((resolve) => setImmediate(resolve));
      if (failed !== undefined) throw failed;
      const [sweep] = coordinator.list();
      expect(sweep!.shardsExpected).toBeGreaterThanOrEqual(100_000);
      // a worker holds one shard while the sweep is cancelled
      const held = (await queue.pull(1_000))!;
      expect(held).not.toBeNull();

      const view = await coordinator.cancel(sweep!.sweepId);
      const atCancel = queue.published;
      expect(view.state).toBe("CANCELLED");
      await submitted;
      expect(queue.published).toBe(atCancel);
      expect(atCancel).toBeLessThan(sweep!.shardsExpected);
      // purged: nothing waits; only the held shard is out
      expect(await queue.pending()).toEqual({ waiting: 0, unacked: 1 });
      expect(await queue.pull(50)).toBeNull();

      const partial = {
        kind: "head-ablation" as const,
        dims: { nLayer: 1, nHead: 1, dMlp: 1 },
        cases: 1,
        baselineCorrect: 1,
        baselineProbSum: 1,
        correct: [1],
        probSum: [1],
      };
      const outcome = await coordinator.reportShard({
        sweepId: sweep!.sweepId,
        shardId: held.id,
        worker: "w",
        attempt: 1,
        result: encodePartial(partial),
      });
      expect(outcome).toBe("discarded");
      expect(coordinator.get(sweep!.sweepId).shardsStored).toBe(0);
    } finally {
      coordinator.close();
    }
  });

  it("stops publishing within a second while no-op workers hold shards, and they drop their results without an error", async () => {
    const queue = new CountingQueue();
    const coordinator = new Coordinator({ dataDir: join(dir, "data3"), queue, digestModel: digestPath });
    await coordinator.start();
    // real ShardWorkers whose executor returns a ready partial once let go: each holds its shard
    // until the sweep has been cancelled
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    const partial: AnyPartial = {
      kind: "head-ablation",
      dims: { nLayer: 1, nHead: 1, dMlp: 1 },
      cases: 1,
      baselineCorrect: 1,
      baselineProbSum: 1,
      correct: [1],
      probSum: [1],
    };
    const outcomes: string[] = [];
    const sink: ResultSink = {
      report: async (r) => void outcomes.push(await coordinator.reportShard(r)),
      fail: (f) => coordinator.reportFailure(f),
    };
    const events: WorkerEvent[] = [];
    const workers = Array.from(
      { length: 4 },
      (_, i) =>
        new ShardWorker(queue, sink, new ModelCache(), {
          id: `noop-${i}`,
          pullTimeoutMs: 20,
          onEvent: (e) => events.push(e),
          execute: async () => (await gate, partial),
        }),
    );
    try {
      const submitted = coordinator.submit(YAML, "big.yaml");
      let failed: Error | undefined;
      submitted.catch((err: Error) => (failed = err));
      for (const w of workers) w.start();
      const until = Date.now() + 60_000;
      while (
        (queue.published < 2_000 || workers.some((w) => w.inFlight === 0)) &&
        Date.now() < until &&
        failed === undefined
      )
        await new Promise((resolve) => setImmediate(resolve));
      if (failed !== undefined) throw failed;
      const [sweep] = coordinator.list();
      expect(sweep!.shardsExpected).toBeGreaterThanOrEqual(100_000);
      expect(workers.map((w) => w.inFlight)).toEqual([1, 1, 1, 1]);

      const t0 = performance.now();
      await coordinator.cancel(sweep!.sweepId);
      const cancelMs = performance.now() - t0;
      const atCancel = queue.published;
      await submitted;
      expect(cancelMs).toBeLessThan(1_000);
      expect(queue.published).toBe(atCancel);
      expect(atCancel).toBeLessThan(sweep!.shardsExpected);

      letGo();
      await Promise.all(workers.map((w) => w.drain()));
      expect(outcomes).toEqual(["discarded", "discarded", "discarded", "discarded"]);
      expect(events.filter((e) => e.type === "failed")).toEqual([]);
      expect(events.filter((e) => e.type === "finished")).toHaveLength(4);
      expect(await queue.pending()).toEqual({ waiting: 0, unacked: 0 });
      expect(queue.published).toBe(atCancel);
      expect(coordinator.get(sweep!.sweepId)).toMatchObject({ state: "CANCELLED", shardsStored: 0 });
    } finally {
      letGo();
      await Promise.all(workers.map((w) => w.drain()));
      await queue.close();
      coordinator.close();
    }
  });

  it("answers ReportFailure over gRPC for a shard or sweep that does not exist with NOT_FOUND and journals nothing", async () => {
    const queue = new MemoryShardQueue<ShardTask>({ groupOf: (t) => t.sweepId });
    const coordinator = new Coordinator({ dataDir: join(dir, "data2"), queue, digestModel: digestPath });
    await coordinator.start();
    const server = await startSweepServer({ backend: coordinator, port: 0 });
    const client = createSweepClient(server.address, {});
    try {
      const view = await coordinator.submit(
        YAML.replace("digits: [2]", "digits: [1]").replace("cases: { sample: all }", "cases: { sample: 2 }"),
        "small.yaml",
      );
      const report = (sweepId: string, shardId: string) =>
        unary(client, client.reportFailure, {
          sweepId,
          shardId,
          worker: "w",
          attempt: 1,
          code: "X",
          message: "m",
          retryable: false,
        });
      const noShard = await failure(report(view.sweepId, "no-such-shard"));
      expect([noShard.code, errorCodeOf(noShard), noShard.details]).toEqual([
        status.NOT_FOUND,
        "SHARD_NOT_FOUND",
        `sweep ${view.sweepId} has no shard "no-such-shard"`,
      ]);
      const noSweep = await failure(report("no-such-sweep", "no-such-shard"));
      expect([noSweep.code, errorCodeOf(noSweep)]).toEqual([status.NOT_FOUND, "SWEEP_NOT_FOUND"]);
      expect(
        readJournal(join(dir, "data2", "sweeps", view.sweepId)).filter(
          (e) => e.type === "shard-failed" || e.type === "shard-quarantined",
        ),
      ).toEqual([]);
      expect(coordinator.get(view.sweepId)).toMatchObject({ state: "RUNNING", quarantined: [] });
    } finally {
      client.close();
      await server.close();
      await queue.close();
      coordinator.close();
    }
  });
});
