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
import { graphKind } from "../../worker/runtime/metrics.ts";
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
    // the process's own metrics, from prom-client's defaults, in the same registry
    const body = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(sample(body, "process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("drops a finished sweep's series once it has been finished for the grace period, not before", async () => {
    let now = 5_000_000;
    const m = new CoordinatorMetrics({ sweepGraceMs: 60_000, now: () => now });
    let views = [view({}), view({ sweepId: "r" })];
    m.observe({ sweeps: { list: () => views } });
    for (const sweep of ["s", "r"]) {
      m.onSweepEvent(sweep, { type: "published", shard: shard(`${sweep}1`, "cna") });
      m.onSweepEvent(sweep, {
        type: "stored",
        shardId: `${sweep}1`,
        stage: "cna",
        model: "m",
        worker: "w",
        bytes: 10,
        attempt: 1,
        cases: 1,
        dims,
      });
    }
    const series = (text: string, sweep: string) =>
      text.split("\n").filter((l) => l.includes(`sweep="${sweep}"`) && !l.startsWith("#"));
    m.onSweepEvent("s", { type: "finished", state: "SUCCEEDED" });
    views = [view({ state: "SUCCEEDED", shardsStored: 10 }), view({ sweepId: "r" })];
    now += 59_999;
    let text = (await m.render()).body;
    expect(series(text, "s").length).toBeGreaterThan(10);
    expect(sample(text, `cna_shards_completed_total${L("cna")}`)).toBe(1);
    expect(sample(text, 'cna_sweep_progress_ratio{sweep="s"}')).toBe(1);
    now += 1;
    text = (await m.render()).body;
    expect(series(text, "s")).toEqual([]);
    // the running sweep keeps its series, and the count by state still counts the finished one
    expect(sample(text, 'cna_shards_completed_total{sweep="r",stage="cna",model="m"}')).toBe(1);
    expect(sample(text, 'cna_sweep_progress_ratio{sweep="r"}')).toBe(0.4);
    expect(sample(text, 'cna_sweeps{state="SUCCEEDED"}')).toBe(1);
    // a late duplicate report does not bring them back
    m.onSweepEvent("s", {
      type: "duplicate",
      shardId: "s1",
      stage: "cna",
      model: "m",
      matches: true,
      bytes: 10,
      attempt: 2,
    });
    expect(series((await m.render()).body, "s")).toEqual([]);
  });

  it("drops a cancelled sweep (which sends no finished event) the grace period after a scrape first saw it ended", async () => {
    let now = 0;
    const m = new CoordinatorMetrics({ sweepGraceMs: 1_000, now: () => now });
    m.observe({ sweeps: { list: () => [view({ state: "CANCELLED" })] } });
    m.onSweepEvent("s", { type: "published", shard: shard("a", "cna") });
    expect(sample((await m.render()).body, 'cna_sweep_progress_ratio{sweep="s"}')).toBe(0.4);
    now = 999;
    expect(sample((await m.render()).body, `cna_shards_published_total${L("cna")}`)).toBe(1);
    now = 1_000;
    const text = (await m.render()).body;
    expect(sample(text, `cna_shards_published_total${L("cna")}`)).toBeUndefined();
    expect(sample(text, 'cna_sweep_progress_ratio{sweep="s"}')).toBeUndefined();
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
    m.onRun("forward|0|logits", 24, 3, "cpu");
    m.onRun("forward|2|logits,resid_pre|nm", 7, 3, "cpu");
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
    // every forward variant and batch in one series
    expect(sample(text, 'cna_onnx_run_seconds_count{graph="forward"}')).toBe(2);
    expect(text.match(/^cna_onnx_run_seconds_count/gm)).toHaveLength(1);
    expect(sample(text, 'cna_worker_execution_provider{provider="cpu"}')).toBe(1);
    expect(sample(text, 'cna_worker_execution_provider{provider="cuda"}')).toBe(0);
    running = 0;
    text = (await m.render()).body;
    expect(sample(text, "cna_worker_busy")).toBe(0);
  });

  it("serves the process's own metrics (prom-client defaults) in its /metrics", async () => {
    await using server = await new WorkerMetrics().serveMetrics({ host: "127.0.0.1", port: 0 });
    const body = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(sample(body, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(body).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it("labels ONNX runs by graph kind, a set the engine's code bounds", () => {
    const keys = [
      "forward|0|logits",
      "forward|3|logits,head_out|nm",
      "head-sweep",
      "readout",
      "moments-4",
      "moments-16",
    ];
    expect([...new Set(keys.map(graphKind))]).toEqual(["forward", "head-sweep", "readout", "moments"]);
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

  it("exports cna_ names besides prom-client's process_ and nodejs_ ones, and two instances do not collide", () => {
    const own = /^(cna|process|nodejs)_/;
    const names = new WorkerMetrics().metricNames();
    expect(names.filter((n) => n.startsWith("cna_")).length).toBeGreaterThan(10);
    expect(names.filter((n) => !own.test(n))).toEqual([]);
    expect(new WorkerMetrics().metricNames()).toEqual(names);
    expect(new CoordinatorMetrics().metricNames().filter((n) => !own.test(n))).toEqual([]);
    expect(new WorkerMetrics({ processMetrics: false }).metricNames().filter((n) => !n.startsWith("cna_"))).toEqual([]);
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
    expect(coordinatorMetricsOf({ metrics: "127.0.0.1:0", "metrics-sweep-grace": "90s" })).toEqual({
      listen: { host: "127.0.0.1", port: 0 },
      sweepGraceMs: 90_000,
    });
    expect(coordinatorMetricsOf({ metrics: "127.0.0.1:0", "metrics-sweep-grace": "0" })).toMatchObject({
      sweepGraceMs: 0,
    });
    expect(() => coordinatorMetricsOf({ metrics: "127.0.0.1:0", "metrics-sweep-grace": "10" })).toThrow(
      /--metrics-sweep-grace must be a duration such as 90s, 10m, 12h or 7d/,
    );
    expect(() => coordinatorMetricsOf({ "metrics-sweep-grace": "10m" })).toThrow(
      /--metrics-sweep-grace needs --metrics/,
    );
  });
});
