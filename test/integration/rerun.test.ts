/**
 * Coordinator.rerun (RerunSweep, `cna rerun --failed`) with the in-process queue and no-op
 * results: a quarantined shard is re-queued under a new message id, the sweep runs again and
 * succeeds with the rankings of a run where nothing failed; the re-queue is journalled, so a
 * coordinator restarted between the rerun and the shard's result re-queues it too; a cancelled
 * sweep, one with nothing quarantined and an unknown one are refused by code (over gRPC too).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { Coordinator, readJournal, startSweepServer } from "../../coordinator/index.ts";
import { createSweepClient } from "../../proto/index.ts";
import { errorCodeOf, failure, unary } from "../helpers/grpc.ts";
import { MemoryShardQueue, encodePartial, shardIdOfMessage } from "../../core/index.ts";
import type { QueueMessage, ShardTask } from "../../core/index.ts";
import type { SweepState } from "../../coordinator/index.ts";
import { digestPath } from "../helpers/digest.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-rerun-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 2 operators × 4 shards of head ablation over a fake model. */
const YAML = `name: rerun
models: [{ id: m, path: /nonexistent/m }]
operators: ["+", "-"]
digits: [1]
cases: { sample: 8 }
stages: [head-ablation]
shard: { pairs: 2 }
`;

const queueOf = () => new MemoryShardQueue<ShardTask>({ ackWaitMs: 60_000, groupOf: (t) => t.sweepId });

/** A head-ablation result that depends on the shard's pairs only, as a deterministic worker's would. */
function resultOf(task: ShardTask): Uint8Array {
  const n = task.pairs.end - task.pairs.start;
  return encodePartial({
    kind: "head-ablation",
    dims: { nLayer: 1, nHead: 2, dMlp: 1 },
    cases: n,
    baselineCorrect: n,
    baselineProbSum: n * 0.9,
    correct: [n - 1, task.pairs.start % 3],
    probSum: [n * 0.5, n * 0.25],
  });
}

async function report(c: Coordinator, msg: QueueMessage<ShardTask>): Promise<void> {
  await c.reportShard({
    sweepId: msg.data.sweepId,
    shardId: shardIdOfMessage(msg.id),
    worker: "w",
    attempt: 1,
    result: resultOf(msg.data),
  });
  await msg.ack();
}

/** Runs every queued shard; `failIf` ones fail terminally (ReportFailure, then term). Returns the message ids seen. */
async function work(
  c: Coordinator,
  queue: MemoryShardQueue<ShardTask>,
  failIf: (m: QueueMessage<ShardTask>) => boolean = () => false,
): Promise<string[]> {
  const seen: string[] = [];
  for (let msg = await queue.pull(50); msg; msg = await queue.pull(50)) {
    seen.push(msg.id);
    if (!failIf(msg)) {
      await report(c, msg);
      continue;
    }
    await c.reportFailure({
      sweepId: msg.data.sweepId,
      shardId: shardIdOfMessage(msg.id),
      worker: "w",
      attempt: 1,
      code: "MODEL_NOT_FOUND",
      message: "model directory /nonexistent/m does not exist",
      retryable: false,
    });
    await msg.term("MODEL_NOT_FOUND");
  }
  return seen;
}

async function until(c: Coordinator, id: string, state: SweepState): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (c.get(id).state !== state) {
    if (Date.now() > deadline) throw new Error(`sweep ${id} is ${c.get(id).state}, not ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("rerun of a sweep's quarantined shards", () => {
  it("re-queues them under new message ids, survives a restart, and ends with the rankings of a clean run", async () => {
    // the reference: the same sweep with nothing failing
    const cleanQueue = queueOf();
    const clean = new Coordinator({ dataDir: join(dir, "clean"), queue: cleanQueue, digestModel: digestPath });
    await clean.start();
    const cleanId = (await clean.submit(YAML, "rerun.yaml")).sweepId;
    await work(clean, cleanQueue);
    await until(clean, cleanId, "SUCCEEDED");
    const reference = (await clean.rankings(cleanId)).json;
    clean.close();

    const data = join(dir, "failing");
    const queue = queueOf();
    const first = new Coordinator({ dataDir: data, queue, digestModel: digestPath });
    await first.start();
    const id = (await first.submit(YAML, "rerun.yaml")).sweepId;
    let failed = "";
    await work(first, queue, (m) => {
      if (failed !== "" || m.data.cell.op !== "-") return false;
      failed = m.id;
      return true;
    });
    await until(first, id, "FAILED");
    expect(first.get(id).quarantined.map((q) => q.shardId)).toEqual([failed]);
    // the failed run's rankings.json, which the rerun must not leave behind
    await first.rankings(id);
    expect(existsSync(join(data, "sweeps", id, "rankings.json"))).toBe(true);

    const view = await first.rerun(id);
    expect(view).toMatchObject({ state: "RUNNING", quarantined: [], cellsFailed: 0 });
    expect(existsSync(join(data, "sweeps", id, "rankings.json"))).toBe(false);
    expect(readJournal(join(data, "sweeps", id)).filter((e) => e.type === "shards-requeued")).toMatchObject([
      { shards: [{ shardId: failed, republish: 1 }] },
    ]);
    // published again under a new id: the broker terminated the old one and would drop a duplicate
    const again = (await queue.pull(50))!;
    expect(again.id).toBe(`${failed}@1`);
    // the broker telling late that it gave the old message up does not quarantine the new one
    first.shardDead(failed, "delivered 5 times (max 5)");
    expect(first.get(id)).toMatchObject({ state: "RUNNING", quarantined: [] });
    await queue.close();
    first.close();

    // a restart before the shard's result: it is pending again, not quarantined
    const queue2 = queueOf();
    const second = new Coordinator({ dataDir: data, queue: queue2, digestModel: digestPath });
    await second.start();
    expect(second.get(id)).toMatchObject({ state: "RUNNING", quarantined: [] });
    expect(await work(second, queue2)).toEqual([`${failed}@1`]);
    await until(second, id, "SUCCEEDED");
    const rankings = (await second.rankings(id)).json;
    expect(rankings).toBe(reference);
    expect(readFileSync(join(data, "sweeps", id, "rankings.json"), "utf8")).toBe(reference);
    await expect(second.rerun(id)).rejects.toMatchObject({ code: "NOTHING_TO_RERUN" });
    await expect(second.rerun("no-such-sweep")).rejects.toMatchObject({ code: "SWEEP_NOT_FOUND" });
    await queue2.close();
    second.close();
  });

  it("refuses a cancelled sweep, and a running one with nothing quarantined; over gRPC too", async () => {
    const queue = queueOf();
    const c = new Coordinator({ dataDir: join(dir, "cancelled"), queue, digestModel: digestPath });
    await c.start();
    const server = await startSweepServer({ backend: c, port: 0 });
    const client = createSweepClient(server.address, {});
    try {
      const id = (await c.submit(YAML, "rerun.yaml")).sweepId;
      await expect(c.rerun(id)).rejects.toMatchObject({ code: "NOTHING_TO_RERUN" });
      const msg = (await queue.pull(50))!;
      await c.reportFailure({
        sweepId: id,
        shardId: msg.id,
        worker: "w",
        attempt: 1,
        code: "MODEL_NOT_FOUND",
        message: "gone",
        retryable: false,
      });
      await c.cancel(id);
      await expect(c.rerun(id)).rejects.toMatchObject({ code: "SWEEP_CANCELLED" });
      expect(c.get(id).state).toBe("CANCELLED");
      const cancelled = await failure(unary(client, client.rerunSweep, { id, failedOnly: true }));
      expect([cancelled.code, errorCodeOf(cancelled)]).toEqual([status.FAILED_PRECONDITION, "SWEEP_CANCELLED"]);
      // the one kind of rerun must be asked for by name
      const unnamed = await failure(unary(client, client.rerunSweep, { id, failedOnly: false }));
      expect([unnamed.code, errorCodeOf(unnamed), unnamed.details]).toEqual([
        status.INVALID_ARGUMENT,
        "BAD_REQUEST",
        "failed_only: must be true (only quarantined shards are rerun)",
      ]);
    } finally {
      client.close();
      await server.close();
      await queue.close();
      c.close();
    }
  });

  it("says when a submission returned the sweep it already had", async () => {
    const queue = queueOf();
    const c = new Coordinator({ dataDir: join(dir, "again"), queue, digestModel: digestPath });
    await c.start();
    try {
      const first = await c.submit(YAML, "rerun.yaml");
      const second = await c.submit(YAML, "rerun.yaml");
      expect([first.existing, second.existing, second.sweepId]).toEqual([false, true, first.sweepId]);
    } finally {
      await queue.close();
      c.close();
    }
  });
});
