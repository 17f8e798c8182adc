/**
 * Part 2 of the orchestration benchmark: control-plane capacity, i.e. shard completions per
 * second when the stage costs nothing. A head-ablation-only plan with one operand pair per shard
 * gives thousands of shards; 4 worker loops pull each one, report a tiny precomputed
 * head-ablation partial through a ResultSink and ack — the real ShardWorker minus executeShard
 * (it has no injectable executor). Two transports:
 *
 *   memory:         MemoryShardQueue + direct sink into SweepRun (the embedded mode)
 *   jetstream-grpc: JetStreamShardQueue (one connection per worker) + GrpcResultSink per worker
 *                   into a Coordinator behind startSweepServer (the distributed mode)
 *
 * Both store every result as the coordinator always does (fsynced blob + journal lines), in a
 * temp dir on the machine's disk. A breakdown measured apart says where a shard's time goes.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { encodePartial, decodePartial, MemoryShardQueue, parseSweep } from "../core/index.ts";
import type { HeadAblationPartial, ResultSink, ShardQueue, ShardTask } from "../core/index.ts";
import { Coordinator, planSpecOf, startSweepServer, SweepRun, SweepStore } from "../coordinator/index.ts";
import type { PlanSpec, SweepState } from "../coordinator/index.ts";
import { JetStreamShardQueue } from "../transport/index.ts";
import { GrpcResultSink } from "../worker/index.ts";
import { log, median, round } from "./timing.ts";

export interface CapacityOptions {
  root: string;
  natsUrl: string;
  /** shards in the plan (split over 4 cells) */
  shards: number;
  workers: number;
  reps: number;
}

export interface CapacityRun {
  shardsPerSecond: { median: number; runs: number[] };
  seconds: number[];
}

export interface CapacityFigures {
  plan: { shards: number; cells: number; stage: "head-ablation"; pairsPerShard: 1; workers: number; resultBytes: number };
  memory: CapacityRun;
  jetstreamGrpc: CapacityRun;
  target: { minShardsPerSecond: number; memoryMet: boolean; jetstreamGrpcMet: boolean };
  /** per-shard costs measured apart, in milliseconds */
  breakdownMs: {
    /** putResult (blob write + fsync + dir fsync) and the two journal appends (each fsynced) of one shard */
    storePerShard: number;
    /** one fsync of a small file on the data dir's filesystem */
    fsync: number;
    /** encode + decode of the partial (the sink's JSON) */
    jsonPerShard: number;
    /** one SweepRun.status() at the plan's size (the Coordinator computes it twice per report) */
    statusAtPlanSize: number;
  };
  /** capacity if storing were the only cost: 1000 / storePerShard */
  storeBoundShardsPerSecond: number;
}

const TARGET = 500;
const CELLS = 4;
/** dims of arith-2l-d64: the partial's size is that of a real zoo head-ablation shard */
const DIMS = { nLayer: 2, nHead: 4, dMlp: 256 };

function capacityYaml(name: string, pairsPerCell: number): string {
  return `name: ${name}
models:
${Array.from({ length: CELLS }, (_, i) => `  - { id: noop-${i}, path: /nonexistent/noop-${i} }`).join("\n")}
operators: ["+"]
digits: [2]
cases: { sample: ${pairsPerCell} }
stages: [head-ablation]
shard: { pairs: 1 }
`;
}

function noopPartial(): Uint8Array {
  const n = DIMS.nLayer * DIMS.nHead;
  const p: HeadAblationPartial = { kind: "head-ablation", dims: DIMS, cases: 1, baselineCorrect: 1, baselineProbSum: 0.5, correct: Array<number>(n).fill(1), probSum: Array<number>(n).fill(0.25) };
  return encodePartial(p);
}

/** The ShardWorker loop minus executeShard: pull, report the precomputed partial, ack. */
async function noopWorker(id: string, queue: ShardQueue<ShardTask>, sink: ResultSink, result: Uint8Array, running: () => boolean): Promise<void> {
  while (running()) {
    const msg = await queue.pull(100);
    if (!msg) continue;
    await sink.report({ sweepId: msg.data.sweepId, shardId: msg.id, worker: id, attempt: msg.deliveryCount, result, runMs: 0 });
    await msg.ack();
  }
}

async function memoryOnce(spec: PlanSpec, dir: string, o: CapacityOptions, result: Uint8Array): Promise<{ seconds: number; statusMs: number }> {
  const store = new SweepStore(dir);
  store.open();
  let run: SweepRun | undefined;
  const queue = new MemoryShardQueue<ShardTask>({ ackWaitMs: 60_000, maxDeliver: 5, onDead: (id, reason) => run?.quarantine(id, reason) });
  run = new SweepRun(spec, store, queue);
  const sink: ResultSink = { report: async (r) => void (await run!.ingest(r)), fail: (f) => run!.fail(f) };
  let going = true;
  const loops = Array.from({ length: o.workers }, (_, i) => noopWorker(`noop-${i}`, queue, sink, result, () => going));
  try {
    const t0 = performance.now();
    await run.start();
    const state = await run.done;
    const seconds = (performance.now() - t0) / 1000;
    if (state !== "SUCCEEDED") throw new Error(`capacity sweep (memory) ended ${state}`);
    return { seconds, statusMs: statusMs(run) };
  } finally {
    going = false;
    await Promise.all(loops);
    await queue.close();
    store.close();
  }
}

async function jetstreamOnce(yaml: string, dir: string, o: CapacityOptions, result: Uint8Array): Promise<number> {
  const tag = randomBytes(4).toString("hex");
  const js = { servers: o.natsUrl, stream: `BENCH_CAP_${tag}`, subjectPrefix: `benchcap${tag}.shards`, subjectOf: (t: ShardTask) => ({ sweep: t.sweepId, model: t.cell.model }) };
  let coordinator: Coordinator | undefined;
  const publisher = await JetStreamShardQueue.create<ShardTask>({ ...js, ackWaitMs: 30_000, maxDeliver: 5, onDead: (id, reason) => coordinator?.shardDead(id, reason) });
  coordinator = new Coordinator({ dataDir: dir, queue: publisher });
  await coordinator.start();
  const server = await startSweepServer({ backend: coordinator, host: "127.0.0.1", port: 0 });
  const consumers = await Promise.all(Array.from({ length: o.workers }, () => JetStreamShardQueue.create<ShardTask>({ ...js, followConsumer: true })));
  const sinks = consumers.map(() => new GrpcResultSink({ address: `127.0.0.1:${server.port}` }));
  let going = true;
  const loops = consumers.map((q, i) => noopWorker(`noop-${i}`, q, sinks[i]!, result, () => going));
  try {
    const t0 = performance.now();
    const view = await coordinator.submit(yaml, "capacity.yaml");
    const state = await new Promise<SweepState>((resolve) => {
      const stop = coordinator!.watch(view.sweepId, (v) => {
        if (v.state === "RUNNING") return;
        queueMicrotask(() => stop());
        resolve(v.state);
      });
    });
    const seconds = (performance.now() - t0) / 1000;
    if (state !== "SUCCEEDED") throw new Error(`capacity sweep (jetstream-grpc) ended ${state}`);
    return seconds;
  } finally {
    going = false;
    await Promise.all(loops);
    for (const s of sinks) await s[Symbol.asyncDispose]();
    await server.close();
    for (const q of consumers) await q.close();
    await publisher.close();
    coordinator.close();
  }
}

/** Per-shard costs, each timed on its own over `n` iterations. */
function breakdown(dir: string, result: Uint8Array): Omit<CapacityFigures["breakdownMs"], "statusAtPlanSize"> {
  const n = 300;
  const store = new SweepStore(join(dir, "store"));
  store.open();
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const shardId = `s${i}`;
    store.append({ type: "shard-published", sweepId: "b", shardId, at: new Date().toISOString(), task: {} });
    const r = store.putResult(shardId, result);
    store.append({ type: "shard-stored", sweepId: "b", shardId, at: new Date().toISOString(), digest: r.digest, worker: "w", attempt: 1 });
  }
  const storePerShard = (performance.now() - t0) / n;
  t0 = performance.now();
  for (let i = 0; i < n; i++) store.append({ type: "sweep-cancelled", sweepId: "b", at: "" });
  const fsync = (performance.now() - t0) / n;
  store.close();
  const partial = decodePartial(result);
  t0 = performance.now();
  for (let i = 0; i < 10 * n; i++) decodePartial(encodePartial(partial));
  const jsonPerShard = (performance.now() - t0) / (10 * n);
  return { storePerShard: round(storePerShard), fsync: round(fsync), jsonPerShard: round(jsonPerShard) };
}

/** Milliseconds of one status() of a run (it walks every planned shard). */
function statusMs(run: SweepRun): number {
  const n = 50;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) run.status();
  return (performance.now() - t0) / n;
}

export async function measureCapacity(o: CapacityOptions): Promise<CapacityFigures> {
  const pairsPerCell = Math.ceil(o.shards / CELLS);
  const yaml = capacityYaml("bench-capacity", pairsPerCell);
  const spec = planSpecOf(parseSweep(yaml, { fileName: "capacity.yaml" }), "bench-capacity");
  const shards = pairsPerCell * CELLS;
  const result = noopPartial();
  const memory: number[] = [];
  const jetstream: number[] = [];
  const status: number[] = [];
  for (let rep = 0; rep < o.reps; rep++) {
    const m = join(o.root, `capacity-memory-${rep}`);
    mkdirSync(m, { recursive: true });
    const mr = await memoryOnce(spec, m, o, result);
    memory.push(mr.seconds);
    status.push(mr.statusMs);
    log(`capacity: memory rep ${rep + 1}/${o.reps}: ${(shards / memory.at(-1)!).toFixed(0)} shards/s`);
    const j = join(o.root, `capacity-jetstream-${rep}`);
    mkdirSync(j, { recursive: true });
    jetstream.push(await jetstreamOnce(yaml, j, o, result));
    log(`capacity: jetstream-grpc rep ${rep + 1}/${o.reps}: ${(shards / jetstream.at(-1)!).toFixed(0)} shards/s`);
  }
  const figures = (secs: number[]): CapacityRun => {
    const rates = secs.map((s) => shards / s);
    return { shardsPerSecond: { median: round(median(rates)), runs: rates.map((r) => round(r)) }, seconds: secs.map((s) => round(s)) };
  };
  const b = { ...breakdown(join(o.root, "breakdown"), result), statusAtPlanSize: round(median(status)) };
  const mem = figures(memory);
  const jsg = figures(jetstream);
  return {
    plan: { shards, cells: CELLS, stage: "head-ablation", pairsPerShard: 1, workers: o.workers, resultBytes: result.length },
    memory: mem,
    jetstreamGrpc: jsg,
    target: { minShardsPerSecond: TARGET, memoryMet: mem.shardsPerSecond.median >= TARGET, jetstreamGrpcMet: jsg.shardsPerSecond.median >= TARGET },
    breakdownMs: b,
    storeBoundShardsPerSecond: round(1000 / b.storePerShard),
  };
}
