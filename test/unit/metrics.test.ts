/**
 * The two deployables' metrics: what each event and source becomes in the exposition text, that
 * every instance has its own registry, the /metrics endpoint (127.0.0.1:0), and the engine's
 * `onRun` hook they listen to (on a tiny random checkpoint).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { PlannedShard, SweepView } from "../../coordinator/index.ts";
import { CoordinatorMetrics } from "../../coordinator/index.ts";
import { ModelRunner, NeuronScorer, WorkerMetrics, loadCheckpoint } from "../../worker/index.ts";
import { batchBucket } from "../../worker/runtime/metrics.ts";
import { coordinatorMetricsOf, workerMetricsOf } from "../../cli/metrics.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";

/** The value of one series in Prometheus text, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const shard = (id: string, stage: PlannedShard["task"]["stage"], model = "m"): PlannedShard => ({
  id,
  task: {
    sweepId: "s",
    stage,
    cell: { model, modelPath: `/models/${model}`, modelDigest: "d", op: "+", digits: 1, template: 4 },
    versions: { resultFormat: 1, method: 1 },
    pairs: { sample: "all", seed: 0, start: 0, end: 10 },
    topK: 5,
    target: "predicted",
  },
});

const view = (patch: Partial<SweepView>): SweepView => ({
  sweepId: "s",
  name: "s",
  state: "RUNNING",
  cells: 1,
  cellsDone: 0,
  cellsFailed: 0,
  stages: [],
  shardsExpected: 10,
  shardsStored: 4,
  casesDone: 40,
  duplicates: 0,
  nondeterministic: 0,
  redeliveries: 0,
  quarantined: [],
  createdAt: new Date(1_000_000),
  updatedAt: new Date(1_000_000),
  etaSeconds: 120,
  casesPerSecond: 2,
  ...patch,
});

const dims = { nLayer: 2, nHead: 4, dMlp: 32 };
const L = (stage: string, model = "m") => `{sweep="s",stage="${stage}",model="${model}"}`;

describe("CoordinatorMetrics", () => {
  it("counts shard events by sweep, stage and model, zero from the first publish", async () => {
    const m = new CoordinatorMetrics();
    m.onSweepEvent("s", { type: "published", shard: shard("a", "head-ablation") });
    m.onSweepEvent("s", { type: "published", shard: shard("b", "head-ablation") });
    m.onSweepEvent("s", { type: "published", shard: shard("c", "cna") });
    let text = (await m.render()).body;
    expect(sample(text, `cna_shards_published_total${L("head-ablation")}`)).toBe(2);
    expect(sample(text, `cna_shards_quarantined_total${L("head-ablation")}`)).toBe(0);
    expect(sample(text, `cna_nondeterminism_detected_total${L("cna")}`)).toBe(0);

    const base = { shardId: "a", stage: "head-ablation" as const, model: "m" };
    m.onSweepEvent("s", { type: "stored", ...base, worker: "w", bytes: 100, attempt: 2, cases: 10, dims, runMs: 500 });
    m.onSweepEvent("s", { type: "duplicate", ...base, matches: false, bytes: 100, attempt: 3 });
    m.onSweepEvent("s", {
      type: "stored",
      shardId: "c",
      stage: "cna",
      model: "m",
      worker: "w",
      bytes: 50,
      attempt: 1,
      cases: 3,
      dims,
    });
    m.onSweepEvent("s", {
      type: "failed",
      shardId: "b",
      stage: "head-ablation",
      model: "m",
      code: "BAD",
      retryable: false,
    });
    m.onSweepEvent("s", { type: "quarantined", shardId: "b", stage: "head-ablation", model: "m", reason: "BAD" });
    text = (await m.render()).body;
    expect(sample(text, `cna_shards_completed_total${L("head-ablation")}`)).toBe(1);
    expect(sample(text, `cna_shards_redelivered_total${L("head-ablation")}`)).toBe(2);
    expect(sample(text, `cna_shards_duplicate_total${L("head-ablation")}`)).toBe(1);
    expect(sample(text, `cna_nondeterminism_detected_total${L("head-ablation")}`)).toBe(1);
    expect(sample(text, `cna_shards_failed_total${L("head-ablation")}`)).toBe(1);
    expect(sample(text, `cna_shards_quarantined_total${L("head-ablation")}`)).toBe(1);
    expect(sample(text, `cna_cases_merged_total${L("head-ablation")}`)).toBe(10);
    expect(sample(text, `cna_head_ablations_merged_total${L("head-ablation")}`)).toBe(10 * 2 * 4);
    expect(sample(text, `cna_neuron_scores_merged_total${L("cna")}`)).toBe(3 * 2 * 32);
    expect(sample(text, `cna_neuron_scores_merged_total${L("head-ablation")}`)).toBe(0);
    expect(sample(text, 'cna_ingested_bytes_total{sweep="s"}')).toBe(250);
    // run time only where the worker reported it; total for every stored shard
    expect(sample(text, 'cna_shard_latency_seconds_count{stage="head-ablation",model="m",phase="total"}')).toBe(1);
    expect(sample(text, 'cna_shard_latency_seconds_sum{stage="head-ablation",model="m",phase="run"}')).toBe(0.5);
    expect(sample(text, 'cna_shard_latency_seconds_count{stage="head-ablation",model="m",phase="queue"}')).toBe(1);
    expect(sample(text, 'cna_shard_latency_seconds_count{stage="cna",model="m",phase="total"}')).toBe(1);
    expect(sample(text, 'cna_shard_latency_seconds_count{stage="cna",model="m",phase="run"}')).toBeUndefined();
  });

  it("reads sweeps and queue depth at each render; the deadline only when configured", async () => {
    const m = new CoordinatorMetrics({ deadlineHours: 2 });
    let views = [
      view({}),
      view({ sweepId: "t", state: "SUCCEEDED", shardsStored: 10, etaSeconds: 0 }),
      view({ sweepId: "u", etaSeconds: null }),
    ];
    let depth: () => Promise<{ waiting: number; unacked: number }> = async () => ({ waiting: 5, unacked: 2 });
    m.observe({ sweeps: { list: () => views }, queue: { pending: () => depth() } });
    let text = (await m.render()).body;
    expect(sample(text, 'cna_sweeps{state="RUNNING"}')).toBe(2);
    expect(sample(text, 'cna_sweeps{state="SUCCEEDED"}')).toBe(1);
    expect(sample(text, 'cna_sweeps{state="CANCELLED"}')).toBe(0);
    expect(sample(text, 'cna_sweep_state{sweep="s",state="RUNNING"}')).toBe(1);
    expect(sample(text, 'cna_sweep_state{sweep="t",state="RUNNING"}')).toBe(0);
    expect(sample(text, 'cna_sweep_progress_ratio{sweep="s"}')).toBe(0.4);
    expect(sample(text, 'cna_sweep_shards{sweep="s",status="remaining"}')).toBe(6);
    expect(sample(text, 'cna_sweep_eta_seconds{sweep="s"}')).toBe(120);
    expect(sample(text, 'cna_sweep_eta_seconds{sweep="u"}')).toBeUndefined();
    expect(sample(text, 'cna_sweep_deadline_timestamp_seconds{sweep="s"}')).toBe(1000 + 7200);
    expect(sample(text, 'cna_sweep_last_progress_timestamp_seconds{sweep="s"}')).toBeGreaterThan(
      Date.now() / 1000 - 60,
    );
    expect(sample(text, "cna_queue_pending_messages")).toBe(5);
    expect(sample(text, "cna_queue_ack_pending_messages")).toBe(2);

    views = [view({ state: "SUCCEEDED" })];
    depth = async () => {
      throw new Error("nats down");
    };
    text = (await m.render()).body;
    expect(sample(text, 'cna_sweep_progress_ratio{sweep="t"}')).toBeUndefined();
    expect(sample(text, 'cna_sweeps{state="RUNNING"}')).toBe(0);
    expect(sample(text, "cna_queue_pending_messages")).toBeNaN();
    expect(sample(text, "cna_queue_pending_errors_total")).toBe(1);
    expect(
      sample((await new CoordinatorMetrics().render()).body, 'cna_sweep_deadline_timestamp_seconds{sweep="s"}'),
    ).toBeUndefined();
  });

  it("rejects a non-positive deadline", () => {
    expect(() => new CoordinatorMetrics({ deadlineHours: 0 })).toThrow(/deadlineHours/);
  });

  it("serves /metrics on an ephemeral port, each instance its own registry", async () => {
    const a = new CoordinatorMetrics();
    const b = new CoordinatorMetrics();
    a.onSweepEvent("s", { type: "published", shard: shard("a", "cna") });
    await using server = await a.serveMetrics({ host: "127.0.0.1", port: 0 });
    expect(server.port).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(await res.text(), `cna_shards_published_total${L("cna")}`)).toBe(1);
    expect(sample((await b.render()).body, `cna_shards_published_total${L("cna")}`)).toBeUndefined();
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: "POST" })).status).toBe(405);
  });
});

describe("WorkerMetrics", () => {
  it("follows the worker, model cache and ONNX Runtime hooks", async () => {
    const m = new WorkerMetrics();
    let running = 1;
    m.observe({ inFlight: () => running, concurrency: 2 });
    m.onWorkerEvent({ type: "started", shardId: "a", stage: "cna", model: "m", attempt: 1 });
    m.onWorkerEvent({ type: "heartbeat", shardId: "a" });
    m.onWorkerEvent({ type: "finished", shardId: "a", stage: "cna", model: "m", attempt: 1, ms: 1500, cases: 12 });
    m.onWorkerEvent({ type: "failed", shardId: "b", code: "ENGINE_FAILED", message: "x", retryable: true });
    m.onModelCacheEvent("load", "/models/arith-2l", 250);
    m.onModelCacheEvent("hit", "/models/arith-2l", 0);
    m.onModelCacheEvent("evict", "/models/arith-2l", 0);
    m.onRun("gpt2|0|logits", 24, 3, "cpu");
    let text = (await m.render()).body;
    expect(sample(text, "cna_worker_busy")).toBe(1);
    expect(sample(text, "cna_worker_shards_in_flight")).toBe(1);
    expect(sample(text, "cna_worker_concurrency")).toBe(2);
    expect(sample(text, "cna_worker_heartbeats_total")).toBe(1);
    expect(sample(text, 'cna_worker_cases_processed_total{stage="cna",model="m"}')).toBe(12);
    expect(sample(text, 'cna_worker_shard_duration_seconds_sum{stage="cna",model="m"}')).toBe(1.5);
    expect(sample(text, 'cna_worker_shard_failures_total{code="ENGINE_FAILED",retryable="true"}')).toBe(1);
    expect(sample(text, 'cna_model_load_seconds_sum{model="arith-2l"}')).toBe(0.25);
    expect(sample(text, 'cna_model_cache_hits_total{model="arith-2l"}')).toBe(1);
    expect(sample(text, 'cna_model_cache_evictions_total{model="arith-2l"}')).toBe(1);
    expect(sample(text, 'cna_onnx_run_seconds_count{graph="gpt2|0|logits",batch="32"}')).toBe(1);
    expect(sample(text, 'cna_worker_execution_provider{provider="cpu"}')).toBe(1);
    expect(sample(text, 'cna_worker_execution_provider{provider="cuda"}')).toBe(0);
    running = 0;
    text = (await m.render()).body;
    expect(sample(text, "cna_worker_busy")).toBe(0);
  });

  it("rounds batch labels up to a power of two", () => {
    expect([1, 2, 3, 8, 9, 100].map(batchBucket)).toEqual(["1", "2", "4", "8", "16", "128"]);
  });

  it("is, with coordinator/metrics.ts, the only module that imports prom-client (docs/architecture.md decision 9)", () => {
    const root = join(import.meta.dirname, "..", "..");
    const importers: string[] = [];
    for (const top of ["core", "transport", "worker", "coordinator", "app", "cli", "proto", "bench", "scripts"]) {
      for (const f of readdirSync(join(root, top), { recursive: true, encoding: "utf8" })) {
        if (f.endsWith(".ts") && /from "prom-client"/.test(readFileSync(join(root, top, f), "utf8")))
          importers.push(relative(root, join(root, top, f)));
      }
    }
    expect(importers.sort()).toEqual(["coordinator/metrics.ts", "worker/runtime/metrics.ts"]);
  });

  it("exports only cna_ names, and two instances do not collide", () => {
    const names = new WorkerMetrics().metricNames();
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((n) => !n.startsWith("cna_"))).toEqual([]);
    expect(new WorkerMetrics().metricNames()).toEqual(names);
    expect(new CoordinatorMetrics().metricNames().filter((n) => !n.startsWith("cna_"))).toEqual([]);
  });
});

describe("ModelRunner onRun", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-onrun-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reports every ONNX Runtime run: graph key, batch, milliseconds, provider", async () => {
    writeGpt2Checkpoint(dir, { nLayer: 2, nHead: 2, nEmbd: 8, seed: 2 });
    const ck = await loadCheckpoint(dir);
    const runs: Array<[string, number, string]> = [];
    await using runner = new ModelRunner("tiny", ck.config, ck.weights, {
      intraOpThreads: 1,
      onRun: (key, batch, ms, provider) => {
        expect(ms).toBeGreaterThanOrEqual(0);
        runs.push([key, batch, provider]);
      },
    });
    await runner.forward({
      sequences: [
        [1, 2, 3],
        [4, 5],
      ],
      outputs: ["logits"],
    });
    const D = runner.shape.dModel;
    await new NeuronScorer(runner).logProb(new Float32Array(3 * D).fill(0.1), new Float32Array(3).fill(1), [1, 2, 3]);
    expect(runs).toEqual([
      ["forward|0|logits", 2, "cpu"],
      ["logprob", 3, "cpu"],
    ]);
  });
});

describe("--metrics and --sweep-deadline", () => {
  it("are off by default and parsed once into the metrics options: address and deadline", () => {
    expect(coordinatorMetricsOf({})).toBeNull();
    expect(workerMetricsOf({})).toBeNull();
    expect(coordinatorMetricsOf({ metrics: "0.0.0.0:9464", "sweep-deadline": "10" })).toEqual({
      listen: { host: "0.0.0.0", port: 9464 },
      sweepDeadlineHours: 10,
    });
    expect(workerMetricsOf({ metrics: "127.0.0.1:0" })).toEqual({ listen: { host: "127.0.0.1", port: 0 } });
    expect(() => workerMetricsOf({ metrics: "9464" })).toThrow(/--metrics must be HOST:PORT/);
    expect(() => coordinatorMetricsOf({ "sweep-deadline": "10" })).toThrow(/needs --metrics/);
    expect(() => coordinatorMetricsOf({ metrics: "127.0.0.1:0", "sweep-deadline": "soon" })).toThrow(
      /positive number of hours/,
    );
  });
});
