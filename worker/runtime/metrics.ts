/**
 * The worker's Prometheus metrics (docs/architecture.md decision 9): the one module of worker/ that imports
 * prom-client. It listens where the runtime already reports — ShardWorker's `onEvent`,
 * ModelCache's `onEvent`, the ModelRunner's `onRun` (through ModelCacheOptions) — so the engine
 * and the consumer stay free of it. Gauges (busy, in flight, slots) are read from
 * {@link WorkerMetricsSources} by `render()`, once per scrape. Its own Registry per instance, with
 * prom-client's default `process_*` and `nodejs_*` metrics (memory, CPU, event-loop lag) in it.
 *
 * @example
 * ```ts
 * const metrics = new WorkerMetrics();
 * const models = new ModelCache({ provider, onEvent: metrics.onModelCacheEvent, onRun: metrics.onRun });
 * const worker = new ShardWorker(queue, sink, models, { id, concurrency, onEvent: metrics.onWorkerEvent });
 * metrics.observe({ inFlight: () => worker.inFlight, concurrency });
 * await using server = await metrics.serveMetrics({ host: "0.0.0.0", port: 9465 });
 * ```
 */
import { basename } from "node:path";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { EXECUTION_PROVIDERS } from "../../core/index.ts";
import { serveMetricsText } from "../../transport/index.ts";
import type { MetricsEndpoint, MetricsServer, RenderedMetrics } from "../../transport/index.ts";
import type { Provider } from "../onnx/session.ts";
import type { WorkerEvent } from "./consumer.ts";

/** What the gauges read at each scrape. */
export interface WorkerMetricsSources {
  /** shards running now (ShardWorker.inFlight, summed over the process's workers) */
  inFlight(): number;
  /** shards this process runs at once (the workers' concurrency, summed) */
  concurrency: number;
}

export interface WorkerMetricsOptions {
  /** upper bounds of the shard duration buckets, seconds (default 0.05 s … 1 h) */
  shardBucketsSeconds?: readonly number[];
  /** upper bounds of the ONNX Runtime run buckets, seconds (default 0.5 ms … 10 s) */
  onnxBucketsSeconds?: readonly number[];
  /** upper bounds of the model load buckets, seconds (default 0.05 s … 5 min) */
  loadBucketsSeconds?: readonly number[];
  /** export prom-client's default process_* and nodejs_* metrics (default true) */
  processMetrics?: boolean;
}

export type ResolvedWorkerMetricsOptions = Required<WorkerMetricsOptions>;

export function resolveWorkerMetricsOptions(o: WorkerMetricsOptions = {}): ResolvedWorkerMetricsOptions {
  const r: ResolvedWorkerMetricsOptions = {
    shardBucketsSeconds: o.shardBucketsSeconds ?? [
      0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600,
    ],
    onnxBucketsSeconds: o.onnxBucketsSeconds ?? [
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ],
    loadBucketsSeconds: o.loadBucketsSeconds ?? [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    processMetrics: o.processMetrics ?? true,
  };
  const { processMetrics: _, ...bucketLists } = r;
  for (const [field, buckets] of Object.entries(bucketLists)) {
    if (buckets.length === 0 || buckets.some((b, i) => !(b > 0) || (i > 0 && b <= buckets[i - 1]!))) {
      throw new RangeError(`${field} must be positive and increasing, got [${buckets.join(", ")}]`);
    }
  }
  return r;
}

/**
 * A graph key's kind, the `graph` label of cna_onnx_run_seconds: `forward|<start layer>|<outputs>|nm`
 * is `forward`, `moments-<n>` is `moments`. The keys themselves name every (start layer, outputs,
 * masks) variant a model builds, so per key — times a batch label — the histogram grew past a
 * hundred series on a few models and its panel became unreadable; the kinds are a short list
 * fixed by the engine's code, whatever the models or the batch sizes.
 */
export function graphKind(graphKey: string): string {
  return graphKey.split("|", 1)[0]!.replace(/-\d+$/, "");
}

export class WorkerMetrics {
  private readonly registry = new Registry();
  private readonly o: ResolvedWorkerMetricsOptions;
  private sources: WorkerMetricsSources = { inFlight: () => 0, concurrency: 0 };

  private readonly busy = this.gauge("cna_worker_busy", "1 while the worker runs at least one shard, 0 when idle");
  private readonly inFlight = this.gauge("cna_worker_shards_in_flight", "Shards running now");
  private readonly slots = this.gauge("cna_worker_concurrency", "Shards the worker runs at once (its slots)");
  private readonly provider = new Gauge({
    name: "cna_worker_execution_provider",
    help: "1 for the ONNX Runtime execution provider the sessions run on (after any CUDA fallback)",
    labelNames: ["provider"],
    registers: [this.registry],
  });
  private readonly cases = this.counter("cna_worker_cases_processed_total", "Cases analysed in finished shards", [
    "stage",
    "model",
  ]);
  private readonly failures = this.counter(
    "cna_worker_shard_failures_total",
    "Failed shard attempts and failed queue pulls, by error code",
    ["code", "retryable"],
  );
  private readonly misrouted = this.counter(
    "cna_worker_shards_misrouted_total",
    "Shards handed back unrun because the coordinator this worker reports to does not run their sweep",
    [],
  );
  private readonly heartbeats = this.counter(
    "cna_worker_heartbeats_total",
    "working() heartbeats sent for running shards",
    [],
  );
  private readonly cacheHits = this.counter("cna_model_cache_hits_total", "Shards whose model was already loaded", [
    "model",
  ]);
  private readonly cacheEvictions = this.counter(
    "cna_model_cache_evictions_total",
    "Models evicted to stay within the memory budget",
    ["model"],
  );
  private readonly shardSeconds: Histogram<"stage" | "model">;
  private readonly onnxSeconds: Histogram<"graph">;
  private readonly loadSeconds: Histogram<"model">;

  constructor(options: WorkerMetricsOptions = {}) {
    this.o = resolveWorkerMetricsOptions(options);
    if (this.o.processMetrics) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.shardSeconds = new Histogram({
      name: "cna_worker_shard_duration_seconds",
      help: "Shard time on the worker, pull to ack (load, run, report)",
      labelNames: ["stage", "model"],
      buckets: [...this.o.shardBucketsSeconds],
      registers,
    });
    this.onnxSeconds = new Histogram({
      name: "cna_onnx_run_seconds",
      help: "ONNX Runtime run time by graph kind (forward, head-sweep, readout, logprob, ...), every batch size together",
      labelNames: ["graph"],
      buckets: [...this.o.onnxBucketsSeconds],
      registers,
    });
    this.loadSeconds = new Histogram({
      name: "cna_model_load_seconds",
      help: "Model loads (checkpoint read and runner set-up)",
      labelNames: ["model"],
      buckets: [...this.o.loadBucketsSeconds],
      registers,
    });
    this.heartbeats.inc(0);
    this.misrouted.inc(0);
  }

  /** Give the gauges their sources (call once the ShardWorkers exist). */
  observe(sources: WorkerMetricsSources): void {
    this.sources = sources;
  }

  /** Pass as `ShardWorkerOptions.onEvent` (or call from it). */
  readonly onWorkerEvent = (e: WorkerEvent): void => {
    switch (e.type) {
      case "finished":
        if (e.ms !== undefined) this.shardSeconds.observe({ stage: e.stage, model: e.model }, e.ms / 1000);
        this.cases.inc({ stage: e.stage, model: e.model }, e.cases ?? 0);
        return;
      case "failed":
        this.failures.inc({ code: e.code, retryable: String(e.retryable) });
        return;
      case "heartbeat":
        this.heartbeats.inc();
        return;
      case "misrouted":
        this.misrouted.inc();
        return;
      case "started":
        this.cases.inc({ stage: e.stage, model: e.model }, 0);
        return;
    }
  };

  /** Pass as `ModelCacheOptions.onEvent`; `model` is the checkpoint path (labelled by its directory name). */
  readonly onModelCacheEvent = (event: "hit" | "load" | "evict", model: string, ms: number): void => {
    const labels = { model: basename(model) };
    if (event === "hit") this.cacheHits.inc(labels);
    else if (event === "evict") this.cacheEvictions.inc(labels);
    else {
      this.cacheHits.inc(labels, 0);
      this.cacheEvictions.inc(labels, 0);
      this.loadSeconds.observe(labels, ms / 1000);
    }
  };

  /** Pass as `RunnerOptions.onRun` (ModelCacheOptions carries it to every runner). */
  readonly onRun = (graphKey: string, _batch: number, ms: number, provider: Provider): void => {
    this.onnxSeconds.observe({ graph: graphKind(graphKey) }, ms / 1000);
    for (const p of EXECUTION_PROVIDERS) this.provider.set({ provider: p }, p === provider ? 1 : 0);
  };

  /** Names of every metric this instance exports (dashboards and rules may use only these). */
  metricNames(): string[] {
    return this.registry
      .getMetricsAsArray()
      .map((m) => m.name)
      .sort();
  }

  /** The Prometheus text exposition of every metric. */
  async render(): Promise<RenderedMetrics> {
    const running = this.sources.inFlight();
    this.inFlight.set(running);
    this.busy.set(running > 0 ? 1 : 0);
    this.slots.set(this.sources.concurrency);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Serves {@link render} on http://HOST:PORT/metrics (port 0 picks one). */
  serveMetrics(at: MetricsEndpoint): Promise<MetricsServer> {
    return serveMetricsText(at, () => this.render());
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}
