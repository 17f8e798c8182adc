/**
 * The worker's delivery pipeline: while a result is reported and acked, the loop pulls and runs
 * the next shard; at most `deliveryWindow` results per loop wait on the coordinator; a shard is
 * acked only after its report returned; draining waits for every delivery.
 */
import { describe, expect, it } from "vitest";
import { MemoryShardQueue } from "../../core/index.ts";
import type { AnyPartial, ResultSink, ShardReport, ShardTask } from "../../core/index.ts";
import { ModelCache, ShardWorker } from "../../worker/index.ts";

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
