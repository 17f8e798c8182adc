/**
 * The worker's delivery pipeline: while a result is reported and acked, the loop pulls and runs
 * the next shard; at most `deliveryWindow` results per loop wait on the coordinator; a shard is
 * acked only after its report returned; draining waits for every delivery. A shard of a sweep the
 * sink's coordinator does not run is handed back unrun.
 */
import { describe, expect, it } from "vitest";
import { MemoryShardQueue } from "../../core/index.ts";
import type { AnyPartial, ResultSink, ShardReport, ShardTask } from "../../core/index.ts";
import { ModelCache, ShardWorker } from "../../worker/index.ts";
import type { WorkerEvent } from "../../worker/index.ts";

const partial: AnyPartial = {
  kind: "head-ablation",
  dims: { nLayer: 1, nHead: 1, dMlp: 4 },
  cases: 1,
  baselineCorrect: 1,
  baselineProbSum: 1,
  correct: [1],
  probSum: [1],
};

function task(i: number): ShardTask {
  return {
    sweepId: "s",
    stage: "head-ablation",
    cell: { model: "m" },
    pairs: { start: i, end: i + 1 },
  } as unknown as ShardTask;
}

/** A sink whose reports wait until released, one by one, in arrival order. */
class GatedSink implements ResultSink {
  readonly reports: string[] = [];
  private readonly gates: Array<() => void> = [];
  private waiters: Array<() => void> = [];
  async report(r: ShardReport): Promise<void> {
    this.reports.push(r.shardId);
    for (const w of this.waiters.splice(0)) w();
    await new Promise<void>((resolve) => this.gates.push(resolve));
  }
  async fail(): Promise<void> {}
  /** resolves once `n` reports have arrived */
  async arrived(n: number): Promise<void> {
    while (this.reports.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  releaseAll(): void {
    for (const g of this.gates.splice(0)) g();
  }
}

describe("ShardWorker delivery pipeline", () => {
  it("runs the next shards while results are reported, up to the window, and acks only after the report", async () => {
    const queue = new MemoryShardQueue<ShardTask>({ ackWaitMs: 60_000 });
    for (let i = 0; i < 6; i++) await queue.publish(`sh${i}`, task(i));
    const sink = new GatedSink();
    const executed: string[] = [];
    const worker = new ShardWorker(queue, sink, new ModelCache(), {
      id: "w",
      pullTimeoutMs: 20,
      deliveryWindow: 3,
      execute: async (t) => {
        executed.push(`sh${t.pairs.start}`);
        return partial;
      },
    });
    worker.start();
    // three reports wait on the coordinator at once; the loop has run a fourth shard and holds it
    await sink.arrived(3);
    while (executed.length < 4) await new Promise((resolve) => setImmediate(resolve));
    expect(sink.reports).toEqual(["sh0", "sh1", "sh2"]);
    expect(executed).toEqual(["sh0", "sh1", "sh2", "sh3"]);
    expect(await queue.pending()).toEqual({ waiting: 2, unacked: 4 }); // nothing acked before its report returned
    expect(worker.inFlight).toBe(4);

    const drained = worker.drain();
    let done = false;
    void drained.then(() => (done = true));
    // draining waits for the deliveries still in flight
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    while (!done) {
      sink.releaseAll();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(sink.reports).toEqual(["sh0", "sh1", "sh2", "sh3"]);
    expect(await queue.pending()).toEqual({ waiting: 2, unacked: 0 });
    expect(worker.inFlight).toBe(0);
    expect(worker.status).toBe("STOPPED");
    await queue.close();
  });
});

describe("ShardWorker and misrouted shards", () => {
  /** A sink whose coordinator runs only `known` sweeps (or cannot be asked, with `away`). */
  const sinkOf = (known: string[], away = false) => {
    const asked: string[] = [];
    const reports: string[] = [];
    const failures: string[] = [];
    const sink: ResultSink = {
      report: async (r) => void reports.push(r.shardId),
      fail: async (f) => void failures.push(f.shardId),
      knows: async (sweepId) => {
        asked.push(sweepId);
        if (away) throw Object.assign(new Error("coordinator away"), { code: "GRPC_UNAVAILABLE", retryable: true });
        return known.includes(sweepId);
      },
    };
    return { sink, asked, reports, failures };
  };
  const taskOf = (sweepId: string, i: number): ShardTask => ({ ...task(i), sweepId });

  it("hands a shard of a sweep its coordinator does not run back at once, unrun and unreported; asks once per known sweep", async () => {
    const delivered: Array<[string, number]> = [];
    const dead: string[] = [];
    const queue = new MemoryShardQueue<ShardTask>({
      ackWaitMs: 60_000,
      maxDeliver: 3,
      onDeliver: (id, n) => delivered.push([id, n]),
      onDead: (id) => dead.push(id),
    });
    await queue.publish("foreign", taskOf("theirs", 0));
    for (let i = 1; i <= 3; i++) await queue.publish(`own${i}`, taskOf("ours", i));
    const { sink, asked, reports, failures } = sinkOf(["ours"]);
    const executed: string[] = [];
    const events: WorkerEvent[] = [];
    const worker = new ShardWorker(queue, sink, new ModelCache(), {
      id: "w",
      pullTimeoutMs: 20,
      execute: async (t) => {
        executed.push(t.sweepId);
        return partial;
      },
      onEvent: (e) => events.push(e),
    });
    worker.start();
    while (reports.length < 3) await new Promise((resolve) => setImmediate(resolve));
    await worker.drain();
    expect(executed).toEqual(["ours", "ours", "ours"]);
    expect(reports).toEqual(["own1", "own2", "own3"]);
    expect(failures).toEqual([]);
    // handed back with no delay: delivered again at once, each time told, never failed, until the
    // queue's delivery limit (every hand-back is a delivery) gives it up
    expect(delivered.filter(([id]) => id === "foreign").map(([, n]) => n)).toEqual([1, 2, 3]);
    expect(dead).toEqual(["foreign"]);
    const misrouted = events.filter((e) => e.type === "misrouted");
    expect(misrouted).toHaveLength(3);
    expect(misrouted[0]).toEqual({
      type: "misrouted",
      shardId: "foreign",
      sweepId: "theirs",
      reason: "the coordinator this worker reports to does not run sweep theirs",
    });
    expect(events.filter((e) => e.type === "failed")).toEqual([]);
    expect(asked.filter((s) => s === "ours")).toEqual(["ours"]);
    expect(await queue.pending()).toEqual({ waiting: 0, unacked: 0 });
  });

  it("runs the shard when the coordinator cannot be asked: the report decides", async () => {
    const queue = new MemoryShardQueue<ShardTask>({ ackWaitMs: 60_000 });
    await queue.publish("own", taskOf("ours", 0));
    const { sink, asked, reports } = sinkOf([], true);
    const worker = new ShardWorker(queue, sink, new ModelCache(), {
      id: "w",
      pullTimeoutMs: 20,
      execute: async () => partial,
    });
    worker.start();
    while (reports.length < 1) await new Promise((resolve) => setImmediate(resolve));
    await worker.drain();
    expect([asked, reports]).toEqual([["ours"], ["own"]]);
  });
});
