/**
 * Embedded mode (docs/architecture.md decision 7): coordinator and N workers in one process, joined by the
 * in-process queue (same semantics as JetStream: ack, nak, redelivery after the ack wait, a
 * delivery limit) and a direct result sink. Same planner, engine, merge and store as a
 * distributed run; only the transports differ.
 */
import { MemoryShardQueue, canonicalJson } from "../core/index.ts";
import type { Rankings, ResultSink, ShardTask } from "../core/index.ts";
import { SweepRun, SweepStore, replayJournal } from "../coordinator/index.ts";
import type { PlanSpec, SweepEvent, SweepState, SweepStatus } from "../coordinator/index.ts";
import { ModelCache, ShardWorker } from "../worker/index.ts";
import type { Provider, WorkerEvent } from "../worker/index.ts";

export interface EmbeddedOptions {
  spec: PlanSpec;
  /** the coordinator's data directory (journal + result blobs); reuse it to resume */
  dataDir: string;
  /** worker loops (default 2) */
  workers?: number;
  provider?: Provider;
  /** ONNX Runtime threads per operator (default: one per core) */
  threads?: number;
  ackWaitMs?: number;
  maxDeliver?: number;
  onSweepEvent?: (e: SweepEvent) => void;
  onWorkerEvent?: (worker: string, e: WorkerEvent) => void;
  /** told when the state directory already holds stored shards of this sweep */
  onResume?: (s: SweepStatus) => void;
  /** called about once a second with the sweep's status while it runs */
  onStatus?: (s: SweepStatus, workers: WorkerActivity) => void;
}

/** What the worker loops of a run are doing: how many run a shard, of how many, holding how many shards. */
export interface WorkerActivity {
  active: number;
  workers: number;
  shardsInFlight: number;
  failures: number;
}

export interface EmbeddedResult {
  state: SweepState;
  rankings: Rankings;
  status: SweepStatus;
}

export async function runEmbedded(o: EmbeddedOptions): Promise<EmbeddedResult> {
  const store = new SweepStore(o.dataDir);
  const journal = store.open();
  // the last plan submitted is the one a resume is checked against (cna run's checkResumable)
  const last = [...journal].reverse().find((e) => e.type === "sweep-submitted" && e.sweepId === o.spec.sweepId);
  if (last?.type !== "sweep-submitted" || canonicalJson(last.spec) !== canonicalJson(o.spec)) {
    store.append({ type: "sweep-submitted", sweepId: o.spec.sweepId, at: new Date().toISOString(), spec: o.spec, source: "embedded" });
  }
  let run: SweepRun | undefined;
  const queue = new MemoryShardQueue<ShardTask>({
    ackWaitMs: o.ackWaitMs ?? 60_000,
    maxDeliver: o.maxDeliver ?? 5,
    onDead: (id, reason) => run?.quarantine(id, reason),
    onDeliver: (id, n) => run?.delivered(id, n),
    groupOf: (t) => t.sweepId,
  });
  run = new SweepRun(o.spec, store, queue, o.onSweepEvent);
  const sink: ResultSink = { report: async (r) => void (await run!.ingest(r)), fail: (f) => run!.fail(f) };
  const models = new ModelCache({ provider: o.provider ?? "cpu", intraOpThreads: o.threads });
  const workers = Array.from({ length: o.workers ?? 2 }, (_, i) => {
    const id = `embedded-${i}`;
    return new ShardWorker(queue, sink, models, {
      id, pullTimeoutMs: 200,
      onEvent: (e) => {
        if (e.type === "failed") failures++;
        o.onWorkerEvent?.(id, e);
      },
    });
  });
  let failures = 0;
  const ticker = o.onStatus
    ? setInterval(() => o.onStatus!(run!.status(), {
      active: workers.filter((w) => w.inFlight > 0).length, workers: workers.length, shardsInFlight: workers.reduce((n, w) => n + w.inFlight, 0), failures,
    }), 1000)
    : undefined;
  try {
    // planned (and stored shards found) before any worker pulls, so a resume is told as it was
    await run.start(replayJournal(journal, o.spec.sweepId));
    if (run.status().shardsStored > 0) o.onResume?.(run.status());
    for (const w of workers) w.start();
    const state = await run.done;
    return { state, rankings: run.rankings(), status: run.status() };
  } finally {
    if (ticker) clearInterval(ticker);
    await Promise.all(workers.map((w) => w.drain()));
    await queue.close();
    await models.close();
    store.close();
  }
}
