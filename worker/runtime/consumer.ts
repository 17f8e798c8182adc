/**
 * The shard consumer: pulls shards, keeps each alive with working() while it runs, reports the
 * result and acks only after the coordinator stored it. Failures are classed once, here:
 * retryable → nak(delay); terminal → ReportFailure + term(). A computed result whose report fails
 * retryably (the coordinator away or restarting) is reported again, the shard held with
 * working(), rather than nak'ed: every nak spends one of the shard's deliveries, and a
 * coordinator restart must not use them up.
 *
 * Each loop is a pipeline: once a shard is computed, its result is reported and acked while the
 * loop pulls and computes the next one, so the engine does not wait on round trips to the
 * coordinator and the broker. Up to `deliveryWindow` results per loop are in delivery at once
 * (each shard still held, with its heartbeat, until acked); draining waits for every delivery.
 *
 * A shard whose sweep the coordinator behind the sink does not know (a shard that reached this
 * worker by mistake: another coordinator's, or one left in the queue by an earlier life) is
 * misrouted: it is handed back at once, unrun, with nak(0) — not reported as a failure, which
 * would quarantine it in nobody's sweep — and told by a `misrouted` event.
 *
 * Lifecycle: 'INITIALIZED' → 'RUNNING' → 'DRAINING' → 'STOPPED' (or 'FAILED').
 */
import { casesOf, encodePartial, errorInfo, shardIdOfMessage } from "../../core/index.ts";
import type {
  AnyPartial,
  QueueMessage,
  ResultSink,
  ShardFailure,
  ShardQueue,
  ShardReport,
  ShardTask,
} from "../../core/index.ts";
import { executeShard } from "./execute.ts";
import type { ModelCache } from "./execute.ts";

export type WorkerState = "INITIALIZED" | "RUNNING" | "DRAINING" | "STOPPED" | "FAILED";

export interface ShardWorkerOptions {
  id: string;
  /** shards run at once (default 1) */
  concurrency?: number;
  /** working() every this often while a shard runs (default 5 s; keep well under the ack wait) */
  heartbeatMs?: number;
  /** nak delay for a retryable failure, and first delay between report retries (default 1 s) */
  retryDelayMs?: number;
  /** how long one pull waits (default 1 s) */
  pullTimeoutMs?: number;
  /**
   * results per loop being reported and acked at once while the loop goes on (default 16): when
   * shards are quick, the sink batches the ones waiting into one report call, and a batch grows
   * with this window
   */
  deliveryWindow?: number;
  /** runs one shard (default: the engine, `executeShard`); a benchmark of the control plane passes a no-op */
  execute?: (task: ShardTask, models: ModelCache) => Promise<AnyPartial>;
  onEvent?: (e: WorkerEvent) => void;
}

export type WorkerEvent =
  /** `ms`: pull to ack; `cases` (finished only): cases the shard analysed */
  | {
      type: "started" | "finished";
      shardId: string;
      stage: string;
      model: string;
      attempt: number;
      ms?: number;
      cases?: number;
    }
  | { type: "failed"; shardId: string; code: string; message: string; retryable: boolean }
  /** handed back unrun: `reason` names why */
  | { type: "misrouted"; shardId: string; sweepId: string; reason: string }
  | { type: "heartbeat"; shardId: string };

/** The code with which a coordinator refuses a report for a sweep it does not run. */
const SWEEP_NOT_FOUND = "SWEEP_NOT_FOUND";

interface Computed {
  partial: AnyPartial;
  started: number;
  runMs: number;
  heartbeat: ReturnType<typeof setInterval>;
}

export class ShardWorker {
  private state: WorkerState = "INITIALIZED";
  private loops: Promise<void>[] = [];
  private markStopped!: (how: string) => void;
  /** resolves when the worker has stopped (drained, e.g. by WorkerService.Drain) */
  readonly stopped: Promise<string> = new Promise((resolve) => (this.markStopped = resolve));
  private readonly o: Required<Omit<ShardWorkerOptions, "onEvent">> & Pick<ShardWorkerOptions, "onEvent">;
  /** sweeps the sink's coordinator said it runs (asked once each) */
  private readonly knownSweeps = new Set<string>();
  inFlight = 0;

  constructor(
    private readonly queue: ShardQueue<ShardTask>,
    private readonly sink: ResultSink,
    private readonly models: ModelCache,
    options: ShardWorkerOptions,
  ) {
    this.o = {
      concurrency: 1,
      heartbeatMs: 5_000,
      retryDelayMs: 1_000,
      pullTimeoutMs: 1_000,
      deliveryWindow: 16,
      execute: executeShard,
      ...options,
    };
  }

  get status(): WorkerState {
    return this.state;
  }

  start(): void {
    if (this.state !== "INITIALIZED") throw new Error(`worker ${this.o.id} cannot start from state ${this.state}`);
    this.state = "RUNNING";
    this.loops = Array.from({ length: this.o.concurrency }, () => this.loop());
  }

  /** Stops pulling; shards already running finish (and are reported) before this resolves. */
  async drain(): Promise<void> {
    if (this.state === "RUNNING") this.state = "DRAINING";
    await Promise.all(this.loops);
    if (this.state === "DRAINING") this.state = "STOPPED";
    this.markStopped("drained");
  }

  private async loop(): Promise<void> {
    const delivering = new Set<Promise<void>>();
    try {
      while (this.state === "RUNNING") {
        let msg: QueueMessage<ShardTask> | null;
        try {
          msg = await this.queue.pull(this.o.pullTimeoutMs);
        } catch (err) {
          // The broker went away: wait and pull again while it may come back; give up otherwise.
          const info = errorInfo(err);
          this.o.onEvent?.({ type: "failed", shardId: "", ...info });
          if (!info.retryable) {
            this.state = "FAILED";
            this.markStopped(`${info.code}: ${info.message}`);
            return;
          }
          await new Promise((r) => setTimeout(r, this.o.retryDelayMs));
          continue;
        }
        if (!msg) continue;
        if (this.state !== "RUNNING") {
          await msg.nak(0); // draining: give it back at once
          break;
        }
        if (await this.misrouted(msg)) continue;
        const computed = await this.compute(msg);
        if (!computed) continue;
        if (delivering.size >= this.o.deliveryWindow) await Promise.race(delivering);
        const delivery = this.deliver(msg, computed).finally(() => delivering.delete(delivery));
        delivering.add(delivery);
      }
    } finally {
      await Promise.all(delivering);
    }
  }

  /** Runs the shard, its heartbeat started; null when it failed (then settled here). */
  private async compute(msg: QueueMessage<ShardTask>): Promise<Computed | null> {
    const task = msg.data;
    const started = performance.now();
    this.inFlight++;
    this.o.onEvent?.({
      type: "started",
      shardId: shardIdOfMessage(msg.id),
      stage: task.stage,
      model: task.cell.model,
      attempt: msg.deliveryCount,
    });
    const heartbeat = setInterval(() => {
      void msg.working();
      this.o.onEvent?.({ type: "heartbeat", shardId: shardIdOfMessage(msg.id) });
    }, this.o.heartbeatMs);
    try {
      const partial = await this.o.execute(task, this.models);
      return { partial, started, runMs: performance.now() - started, heartbeat };
    } catch (err) {
      try {
        await this.settleFailure(msg, err);
      } finally {
        this.release(heartbeat);
      }
      return null;
    }
  }

  /** Reports the result (the coordinator stores it), then acks; the heartbeat runs until then. */
  private async deliver(msg: QueueMessage<ShardTask>, c: Computed): Promise<void> {
    const task = msg.data;
    const attempt = msg.deliveryCount;
    try {
      // runMs is compute only: the coordinator tells it from the queue wait
      await this.report({
        sweepId: task.sweepId,
        shardId: shardIdOfMessage(msg.id),
        worker: this.o.id,
        attempt,
        result: encodePartial(c.partial),
        runMs: c.runMs,
      });
      await msg.ack();
      this.o.onEvent?.({
        type: "finished",
        shardId: shardIdOfMessage(msg.id),
        stage: task.stage,
        model: task.cell.model,
        attempt,
        ms: performance.now() - c.started,
        cases: casesOf(c.partial),
      });
    } catch (err) {
      await this.settleFailure(msg, err);
    } finally {
      this.release(c.heartbeat);
    }
  }

  /** The shard is settled: its heartbeat stops and it no longer counts as held. */
  private release(heartbeat: ReturnType<typeof setInterval>): void {
    clearInterval(heartbeat);
    this.inFlight--;
  }

  /**
   * True when the shard's sweep is unknown to the sink's coordinator; the shard was then handed
   * back. When the coordinator cannot say (away, restarting), the shard runs: its report waits for
   * the coordinator as any report does, holding the shard, rather than spending a delivery on a
   * nak, and a report refused with SWEEP_NOT_FOUND is handed back then (settleFailure).
   */
  private async misrouted(msg: QueueMessage<ShardTask>): Promise<boolean> {
    const sweepId = msg.data.sweepId;
    if (!this.sink.knows || this.knownSweeps.has(sweepId)) return false;
    const known = await this.sink.knows(sweepId).catch(() => null);
    if (known === null) return false;
    if (known) this.knownSweeps.add(sweepId);
    else await this.handBack(msg, `the coordinator this worker reports to does not run sweep ${sweepId}`);
    return !known;
  }

  /** Gives a misrouted shard back at once (no delay: a worker of its own coordinator may take it). */
  private async handBack(msg: QueueMessage<ShardTask>, reason: string): Promise<void> {
    this.o.onEvent?.({ type: "misrouted", shardId: shardIdOfMessage(msg.id), sweepId: msg.data.sweepId, reason });
    await msg
      .nak(0)
      .catch((e: unknown) => this.o.onEvent?.({ type: "failed", shardId: shardIdOfMessage(msg.id), ...errorInfo(e) }));
  }

  /**
   * Classes a failure once: retryable → nak(delay); terminal → ReportFailure + term(); a report
   * refused because the coordinator does not run the sweep → handed back (misrouted).
   */
  private async settleFailure(msg: QueueMessage<ShardTask>, err: unknown): Promise<void> {
    const task = msg.data;
    const info = errorInfo(err);
    if (info.code === SWEEP_NOT_FOUND) return this.handBack(msg, info.message);
    this.o.onEvent?.({ type: "failed", shardId: shardIdOfMessage(msg.id), ...info });
    const settled = info.retryable
      ? msg.nak(this.o.retryDelayMs)
      : this.giveUp(msg, {
          sweepId: task.sweepId,
          shardId: shardIdOfMessage(msg.id),
          worker: this.o.id,
          attempt: msg.deliveryCount,
          ...info,
        });
    // settling fails too while the broker is away; the shard then comes back after the ack wait
    // by itself, so the failure is told and this loop goes on (rather than ending the worker)
    await settled.catch((e: unknown) =>
      this.o.onEvent?.({ type: "failed", shardId: shardIdOfMessage(msg.id), ...errorInfo(e) }),
    );
  }

  /** Reports, trying again after a retryable failure (backing off to 5 s) while the worker runs; draining, it throws. */
  private async report(r: ShardReport): Promise<void> {
    for (let delayMs = this.o.retryDelayMs; ; delayMs = Math.min(2 * delayMs, 5_000)) {
      try {
        return await this.sink.report(r);
      } catch (err) {
        const info = errorInfo(err);
        if (!info.retryable || this.state !== "RUNNING") throw err;
        this.o.onEvent?.({ type: "failed", shardId: r.shardId, ...info });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  /** Terminal failure: tell the coordinator, then term(). If it cannot be told, retry later instead. */
  private async giveUp(msg: QueueMessage<ShardTask>, failure: ShardFailure): Promise<void> {
    try {
      await this.sink.fail(failure);
    } catch {
      await msg.nak(this.o.retryDelayMs);
      return;
    }
    await msg.term(`${failure.code}: ${failure.message}`);
  }
}
