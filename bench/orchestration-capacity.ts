/**
 * Part 2 of the orchestration benchmark: control-plane capacity, i.e. shard completions per
 * second when the stage costs nothing. A head-ablation-only plan with one operand pair per shard
 * gives thousands of shards; 4 real ShardWorkers (concurrency 1, as `cna worker` defaults to),
 * whose executor returns a precomputed head-ablation partial of a zoo model's size, pull each
 * one, report it through a ResultSink and ack. Two transports:
 *
 *   memory:         MemoryShardQueue + direct sink into SweepRun (the embedded mode)
 *   jetstream-grpc: a Coordinator behind startSweepServer publishing to JetStream, and the 4
 *                   workers in a child process (bench/capacity-workers.ts), each with its own
 *                   JetStreamShardQueue (`pullBatch` shards per pull request) and
 *                   GrpcResultSink (up to `reportBatch` shards per ReportShards call): the
 *                   distributed mode, as `cna worker --pull-batch N` runs it
 *
 * Both store every result as the coordinator always does (fsynced blob + journal lines), in a
 * temp dir on the machine's disk. Each transport runs once unmeasured first (the coordinator's
 * JIT warm-up; a coordinator is a long-running process), then `reps` measured times, each with
 * a fresh store, stream and worker process. A breakdown measured apart says where a shard's
 * time goes.
 */
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { encodePartial, decodePartial, MemoryShardQueue, parseSweep } from "../core/index.ts";
import type { ResultSink, ShardTask } from "../core/index.ts";
import { Coordinator, planSpecOf, startSweepServer, SweepRun, SweepStore } from "../coordinator/index.ts";
import type { PlanSpec, SweepState } from "../coordinator/index.ts";
import { JetStreamShardQueue } from "../transport/index.ts";
import type { ShardWorker } from "../worker/index.ts";
import { noopPartial, noopWorker } from "./capacity-noop.ts";
import { log, median, round } from "./timing.ts";
import { digestPath, pathDigests } from "../test/helpers/digest.ts";

export interface CapacityOptions {
  root: string;
  natsUrl: string;
  /** shards in the plan (split over 4 cells) */
  shards: number;
  workers: number;
  reps: number;
  /** most shards per report call of the distributed workers (1: one ReportShard per shard) */
  reportBatch: number;
  /** messages per JetStream pull request of the distributed workers (1: one per pull) */
  pullBatch: number;
}

export interface CapacityRun {
  shardsPerSecond: { median: number; runs: number[] };
  seconds: number[];
}

export interface CapacityFigures {
  plan: {
    shards: number;
    cells: number;
    stage: "head-ablation";
    pairsPerShard: 1;
    workers: number;
    resultBytes: number;
    reportBatch: number;
    pullBatch: number;
  };
  /** the unmeasured first run of each transport (JIT warm-up), for reference */
  warmupShardsPerSecond: { memory: number; jetstreamGrpc: number };
  memory: CapacityRun;
  jetstreamGrpc: CapacityRun;
  target: { minShardsPerSecond: number; memoryMet: boolean; jetstreamGrpcMet: boolean };
  /** per-shard costs measured apart, in milliseconds */
  breakdownMs: {
    /** one shard stored alone: putResult (blob write + fsync + rename + directory fsync) and its two journal notes */
    storePerShard: number;
    /** the same with as many shards in flight as there are workers (the fsyncs are shared: group commit) */
    storePerShardConcurrent: number;
    /** CPU time (all threads) per shard stored with that concurrency: it competes with the rest of the control plane for the cores */
    storeCpuPerShard: number;
    /** one fsynced journal append on the data dir's filesystem */
    fsync: number;
    /** encode + decode of the partial (the sink's JSON) */
    jsonPerShard: number;
    /** one SweepRun.status() at the plan's size (the Coordinator computes it once per report) */
    statusAtPlanSize: number;
  };
  /** capacity if storing were the only cost: 1000 / storePerShardConcurrent */
  storeBoundShardsPerSecond: number;
}

/** control-plane capacity wanted with 4 workers on a 2-core machine */
const TARGET = 2000;
const WORKERS_SCRIPT = new URL("./capacity-workers.ts", import.meta.url).pathname;
const CELLS = 4;
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

/** Starts the workers; the returned function drains them. */
function startWorkers(workers: ShardWorker[]): () => Promise<void> {
  for (const w of workers) w.start();
  return async () => void (await Promise.all(workers.map((w) => w.drain())));
}

async function memoryOnce(
  spec: PlanSpec,
  dir: string,
  o: CapacityOptions,
  result: Uint8Array,
): Promise<{ seconds: number; statusMs: number }> {
  const store = new SweepStore(dir);
  store.open();
  let run: SweepRun | undefined;
  const queue = new MemoryShardQueue<ShardTask>({
    ackWaitMs: 60_000,
    maxDeliver: 5,
    onDead: (id, reason) => run?.quarantine(id, reason),
    groupOf: (t) => t.sweepId,
  });
  run = new SweepRun(spec, store, queue);
  const sink: ResultSink = { report: async (r) => void (await run.ingest(r)), fail: (f) => run.fail(f) };
  const stop = startWorkers(Array.from({ length: o.workers }, (_, i) => noopWorker(`noop-${i}`, queue, sink, result)));
  try {
    const t0 = performance.now();
    await run.start();
    const state = await run.done;
    const seconds = (performance.now() - t0) / 1000;
    if (state !== "SUCCEEDED") throw new Error(`capacity sweep (memory) ended ${state}`);
    return { seconds, statusMs: statusMs(run) };
  } finally {
    await stop();
    await queue.close();
    store.close();
  }
}

async function jetstreamOnce(yaml: string, dir: string, o: CapacityOptions): Promise<number> {
  const tag = randomBytes(4).toString("hex");
  const js = {
    servers: o.natsUrl,
    stream: `BENCH_CAP_${tag}`,
    subjectPrefix: `benchcap${tag}.shards`,
    subjectOf: (t: ShardTask) => ({ sweep: t.sweepId, model: t.cell.model }),
  };
  let coordinator: Coordinator | undefined;
  const publisher = await JetStreamShardQueue.create<ShardTask>({
    ...js,
    ackWaitMs: 30_000,
    maxDeliver: 5,
    onDead: (id, reason) => coordinator?.shardDead(id, reason),
  });
  coordinator = new Coordinator({ dataDir: dir, queue: publisher, digestModel: digestPath });
  await coordinator.start();
  const server = await startSweepServer({ backend: coordinator, host: "127.0.0.1", port: 0 });
  const workers = fork(
    WORKERS_SCRIPT,
    [
      o.natsUrl,
      js.stream,
      js.subjectPrefix,
      `127.0.0.1:${server.port}`,
      String(o.workers),
      String(o.reportBatch),
      String(o.pullBatch),
    ],
    { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  const exited = new Promise<number | null>((resolve) => workers.once("exit", resolve));
  try {
    await Promise.race([
      new Promise((resolve) => workers.once("message", resolve)),
      exited.then((code) => Promise.reject(new Error(`capacity workers exited (${code}) before they were ready`))),
    ]);
    const t0 = performance.now();
    const view = await coordinator.submit(yaml, "capacity.yaml");
    const state = await new Promise<SweepState>((resolve) => {
      const stop = coordinator.watch(view.sweepId, (v) => {
        if (v.state === "RUNNING") return;
        queueMicrotask(() => stop());
        resolve(v.state);
      });
    });
    const seconds = (performance.now() - t0) / 1000;
    if (state !== "SUCCEEDED") throw new Error(`capacity sweep (jetstream-grpc) ended ${state}`);
    return seconds;
  } finally {
    workers.kill("SIGTERM");
    await exited;
    await server.close();
    await publisher.close();
    coordinator.close();
  }
}

/** Per-shard costs, each timed on its own over `n` iterations. */
async function breakdown(
  dir: string,
  result: Uint8Array,
  concurrency: number,
): Promise<Omit<CapacityFigures["breakdownMs"], "statusAtPlanSize">> {
  const n = 400;
  const store = new SweepStore(join(dir, "store"));
  store.open();
  const storeOne = async (shardId: string) => {
    store.note({ type: "shard-published", sweepId: "b", shardId, at: new Date().toISOString(), task: {} });
    const r = await store.putResult(shardId, result);
    store.note({
      type: "shard-stored",
      sweepId: "b",
      shardId,
      at: new Date().toISOString(),
      digest: r.digest,
      worker: "w",
      attempt: 1,
    });
  };
  let t0 = performance.now();
  for (let i = 0; i < n; i++) await storeOne(`s${i}`);
  const storePerShard = (performance.now() - t0) / n;
  t0 = performance.now();
  const cpu0 = process.cpuUsage(); // every thread of the process: the storage thread's file-system calls included
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await storeOne(`c${next++}`);
    }),
  );
  const storePerShardConcurrent = (performance.now() - t0) / n;
  const cpu = process.cpuUsage(cpu0);
  const storeCpuPerShard = (cpu.user + cpu.system) / 1000 / n;
  t0 = performance.now();
  for (let i = 0; i < n; i++) store.append({ type: "sweep-cancelled", sweepId: "b", at: "" });
  const fsync = (performance.now() - t0) / n;
  store.close();
  const partial = decodePartial(result);
  t0 = performance.now();
  for (let i = 0; i < 10 * n; i++) decodePartial(encodePartial(partial));
  const jsonPerShard = (performance.now() - t0) / (10 * n);
  return {
    storePerShard: round(storePerShard),
    storePerShardConcurrent: round(storePerShardConcurrent),
    storeCpuPerShard: round(storeCpuPerShard),
    fsync: round(fsync),
    jsonPerShard: round(jsonPerShard),
  };
}

/** Milliseconds of one status() of a run. */
function statusMs(run: SweepRun): number {
  const n = 50;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) run.status();
  return (performance.now() - t0) / n;
}

export async function measureCapacity(o: CapacityOptions): Promise<CapacityFigures> {
  const pairsPerCell = Math.ceil(o.shards / CELLS);
  const yaml = capacityYaml("bench-capacity", pairsPerCell);
  const parsed = parseSweep(yaml, { fileName: "capacity.yaml" });
  // the no-op executor never opens a model: digests of the (fake) paths stand in
  const spec = planSpecOf(parsed, "bench-capacity", pathDigests(parsed.models));
  const shards = pairsPerCell * CELLS;
  const result = noopPartial();
  const memory: number[] = [];
  const jetstream: number[] = [];
  const status: number[] = [];
  // one unmeasured run of each transport first: the coordinator is a long-running process, and
  // its first thousand shards would otherwise measure the JIT warming up
  const warm = join(o.root, "capacity-warmup");
  mkdirSync(join(warm, "memory"), { recursive: true });
  mkdirSync(join(warm, "jetstream"), { recursive: true });
  const warmup = {
    memory: shards / (await memoryOnce(spec, join(warm, "memory"), o, result)).seconds,
    jetstreamGrpc: shards / (await jetstreamOnce(yaml, join(warm, "jetstream"), o)),
  };
  log(
    `capacity: warm-up (not counted): memory ${warmup.memory.toFixed(0)}, jetstream-grpc ${warmup.jetstreamGrpc.toFixed(0)} shards/s`,
  );
  for (let rep = 0; rep < o.reps; rep++) {
    const m = join(o.root, `capacity-memory-${rep}`);
    mkdirSync(m, { recursive: true });
    const mr = await memoryOnce(spec, m, o, result);
    memory.push(mr.seconds);
    status.push(mr.statusMs);
    log(`capacity: memory rep ${rep + 1}/${o.reps}: ${(shards / memory.at(-1)!).toFixed(0)} shards/s`);
    const j = join(o.root, `capacity-jetstream-${rep}`);
    mkdirSync(j, { recursive: true });
    jetstream.push(await jetstreamOnce(yaml, j, o));
    log(`capacity: jetstream-grpc rep ${rep + 1}/${o.reps}: ${(shards / jetstream.at(-1)!).toFixed(0)} shards/s`);
  }
  const figures = (secs: number[]): CapacityRun => {
    const rates = secs.map((s) => shards / s);
    return {
      shardsPerSecond: { median: round(median(rates)), runs: rates.map((r) => round(r)) },
      seconds: secs.map((s) => round(s)),
    };
  };
  const b = {
    ...(await breakdown(join(o.root, "breakdown"), result, o.workers)),
    statusAtPlanSize: round(median(status)),
  };
  const mem = figures(memory);
  const jsg = figures(jetstream);
  return {
    plan: {
      shards,
      cells: CELLS,
      stage: "head-ablation",
      pairsPerShard: 1,
      workers: o.workers,
      resultBytes: result.length,
      reportBatch: o.reportBatch,
      pullBatch: o.pullBatch,
    },
    warmupShardsPerSecond: { memory: round(warmup.memory), jetstreamGrpc: round(warmup.jetstreamGrpc) },
    memory: mem,
    jetstreamGrpc: jsg,
    target: {
      minShardsPerSecond: TARGET,
      memoryMet: mem.shardsPerSecond.median >= TARGET,
      jetstreamGrpcMet: jsg.shardsPerSecond.median >= TARGET,
    },
    breakdownMs: b,
    storeBoundShardsPerSecond: round(1000 / b.storePerShardConcurrent),
  };
}
