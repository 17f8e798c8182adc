/**
 * The coordinator's Prometheus metrics (docs/architecture.md decision 9): the one module of coordinator/
 * that imports prom-client. Counters and the latency histogram follow the sweep events
 * (`onSweepEvent`, given to the Coordinator); gauges — sweeps by state, progress, ETA, deadline,
 * queue depth — are set from {@link CoordinatorMetricsSources} by `render()`, once per scrape,
 * so they are never stale and JetStream is asked for its depth only when someone looks. Everything lives in this instance's own Registry: two coordinators in one process
 * (tests) never share a series.
 *
 * Every shard counter of a (sweep, stage, model) is created at 0 when its first shard is
 * published, so `increase()` sees the first failure or quarantine too (a series that appears at
 * 1 has no earlier sample to increase from). Rates (cases per second, ...) are PromQL's job:
 * dashboards/rules/cna-recording.yaml.
 *
 * The `sweep` label would grow with every sweep the coordinator has run: a finished (or
 * cancelled) sweep's series — counters and gauges — are dropped once it has been finished for
 * `sweepGraceMs` (long enough for a few scrapes to record its last values), so a long-lived
 * coordinator exports the sweeps that are running or just ended. The process's own metrics
 * (`process_*`, `nodejs_*`: memory, CPU, event-loop lag) come from prom-client's defaults, in this
 * instance's registry.
 *
 * @example
 * ```ts
 * const metrics = new CoordinatorMetrics();
 * const coordinator = new Coordinator({ dataDir, queue, onSweepEvent: metrics.onSweepEvent });
 * metrics.observe({ sweeps: coordinator, queue });
 * await using server = await metrics.serveMetrics({ host: "0.0.0.0", port: 9464 });
 * ```
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { serveMetricsText } from "../transport/index.ts";
import type { MetricsEndpoint, MetricsServer, RenderedMetrics } from "../transport/index.ts";
import type { SweepView } from "./backend.ts";
import { TERMINAL_STATES } from "./backend.ts";
import type { SweepEvent, SweepState } from "./sweep.ts";

/** What the gauges read at each scrape. */
export interface CoordinatorMetricsSources {
  /** what lists every sweep (the Coordinator) */
  sweeps: { list(): readonly SweepView[] };
  /** the shard queue (JetStream consumer) whose depth to export; omitted: no queue gauges */
  queue?: { pending(): Promise<{ waiting: number; unacked: number }> };
}

export interface CoordinatorMetricsOptions {
  /**
   * Each sweep's deadline is its submission time plus this many hours, exported as
   * `cna_sweep_deadline_timestamp_seconds` for the ETA alert. Default: no deadline (no series).
   */
  deadlineHours?: number;
  /** upper bounds of the shard latency buckets, in seconds (default 0.05 s … 1 h) */
  latencyBucketsSeconds?: readonly number[];
  /** a finished sweep's series are dropped this long after it finished (default DEFAULT_SWEEP_GRACE_MS) */
  sweepGraceMs?: number;
  /** the clock, ms since the epoch (default Date.now); tests move it */
  now?: () => number;
  /** export prom-client's default process_* and nodejs_* metrics (default true) */
  processMetrics?: boolean;
}

export interface ResolvedCoordinatorMetricsOptions {
  deadlineHours: number | null;
  latencyBucketsSeconds: readonly number[];
  sweepGraceMs: number;
  now: () => number;
  processMetrics: boolean;
}

/** How long a finished sweep's series stay exported: a few scrapes' worth, then they are dropped. */
export const DEFAULT_SWEEP_GRACE_MS = 600_000;

const SWEEP_STATES: readonly SweepState[] = ["RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"];
const SHARD_LABELS = ["sweep", "stage", "model"] as const;

export function resolveCoordinatorMetricsOptions(o: CoordinatorMetricsOptions = {}): ResolvedCoordinatorMetricsOptions {
  const deadlineHours = o.deadlineHours ?? null;
  if (deadlineHours !== null && !(Number.isFinite(deadlineHours) && deadlineHours > 0)) {
    throw new RangeError(`deadlineHours must be a positive number of hours, got ${deadlineHours}`);
  }
  const buckets = o.latencyBucketsSeconds ?? [
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600,
  ];
  if (buckets.length === 0 || buckets.some((b, i) => !(b > 0) || (i > 0 && b <= buckets[i - 1]!))) {
    throw new RangeError(`latencyBucketsSeconds must be positive and increasing, got [${buckets.join(", ")}]`);
  }
  const sweepGraceMs = o.sweepGraceMs ?? DEFAULT_SWEEP_GRACE_MS;
  if (!(Number.isSafeInteger(sweepGraceMs) && sweepGraceMs >= 0))
    throw new RangeError(`sweepGraceMs must be an integer number of ms >= 0, got ${sweepGraceMs}`);
  return {
    deadlineHours,
    latencyBucketsSeconds: buckets,
    sweepGraceMs,
    now: o.now ?? Date.now,
    processMetrics: o.processMetrics ?? true,
  };
}

export class CoordinatorMetrics {
  private readonly registry = new Registry();
  private readonly o: ResolvedCoordinatorMetricsOptions;
  private sources: CoordinatorMetricsSources = { sweeps: { list: () => [] } };
  /** publish time (ms) of every shard not yet stored or quarantined, for its latency */
  private readonly publishedAt = new Map<string, { sweep: string; at: number }>();
  private readonly seen = new Set<string>();
  /** when each sweep last stored a shard (ms); before that, when we started watching it */
  private readonly lastProgress = new Map<string, number>();
  /** when each finished sweep was first seen finished (ms), until its series are dropped */
  private readonly finishedAt = new Map<string, number>();
  /** sweeps whose series were dropped after the grace period: no gauges for them either */
  private readonly dropped = new Set<string>();
  private readonly startedAt: number;

  private readonly shards = {
    published: this.shardCounter(
      "cna_shards_published_total",
      "Shards published to the queue (republished after a restart counts again)",
    ),
    completed: this.shardCounter("cna_shards_completed_total", "Shards whose first result was stored"),
    failed: this.shardCounter(
      "cna_shards_failed_total",
      "Failed shard attempts reported by workers (terminal failures)",
    ),
    redelivered: this.shardCounter(
      "cna_shards_redelivered_total",
      "Results reported from a second or later delivery of a shard",
    ),
    duplicate: this.shardCounter("cna_shards_duplicate_total", "Results of shards already stored (ignored)"),
    quarantined: this.shardCounter(
      "cna_shards_quarantined_total",
      "Shards given up on (terminal failure or out of deliveries)",
    ),
    corrupt: this.shardCounter(
      "cna_shard_results_corrupt_total",
      "Stored shard results that failed their digest or did not decode: moved aside and computed again",
    ),
  };
  private readonly merged = {
    cases: this.shardCounter("cna_cases_merged_total", "Cases analysed in stored shards"),
    headAblations: this.shardCounter(
      "cna_head_ablations_merged_total",
      "Head ablations in stored shards (cases x layers x heads)",
    ),
    neuronScores: this.shardCounter(
      "cna_neuron_scores_merged_total",
      "Neuron importance scores in stored shards (cases x layers x FFN neurons)",
    ),
    nondeterminism: this.shardCounter(
      "cna_nondeterminism_detected_total",
      "Duplicate results whose bytes differ from the stored copy",
    ),
  };
  private readonly bytes = new Counter({
    name: "cna_ingested_bytes_total",
    help: "Result bytes received from workers, duplicates included",
    labelNames: ["sweep"],
    registers: [this.registry],
  });
  private readonly latency: Histogram<"stage" | "model" | "phase">;
  private readonly gauges = {
    sweeps: this.gauge("cna_sweeps", "Sweeps the coordinator knows, by state", ["state"]),
    state: this.gauge("cna_sweep_state", "1 for the sweep's current state, 0 for the others", ["sweep", "state"]),
    progress: this.gauge("cna_sweep_progress_ratio", "Stored shards over the shards the sweep will have", ["sweep"]),
    shards: this.gauge(
      "cna_sweep_shards",
      "A sweep's shards by status: stored, quarantined, remaining (planned or not yet)",
      ["sweep", "status"],
    ),
    lastProgress: this.gauge(
      "cna_sweep_last_progress_timestamp_seconds",
      "When the sweep last stored a shard (or was submitted, or this coordinator started), Unix seconds",
      ["sweep"],
    ),
    eta: this.gauge(
      "cna_sweep_eta_seconds",
      "Estimated seconds until the sweep finishes (absent until there is a rate)",
      ["sweep"],
    ),
    deadline: this.gauge(
      "cna_sweep_deadline_timestamp_seconds",
      "When the sweep should have finished, Unix seconds (absent without a deadline)",
      ["sweep"],
    ),
    waiting: this.gauge(
      "cna_queue_pending_messages",
      "Shard messages waiting for a worker (JetStream num_pending; NaN when unknown)",
      [],
    ),
    unacked: this.gauge(
      "cna_queue_ack_pending_messages",
      "Shard messages delivered and not yet acked (JetStream num_ack_pending; NaN when unknown)",
      [],
    ),
  };
  private readonly pendingErrors = new Counter({
    name: "cna_queue_pending_errors_total",
    help: "Scrapes at which the queue depth could not be read (the depth gauges then read NaN)",
    registers: [this.registry],
  });

  constructor(options: CoordinatorMetricsOptions = {}) {
    this.o = resolveCoordinatorMetricsOptions(options);
    this.startedAt = this.o.now();
    if (this.o.processMetrics) collectDefaultMetrics({ register: this.registry });
    this.latency = new Histogram({
      name: "cna_shard_latency_seconds",
      help: "Shard latency by phase: total (publish to stored), run (the worker's compute, when reported), queue (total minus run)",
      labelNames: ["stage", "model", "phase"],
      buckets: [...this.o.latencyBucketsSeconds],
      registers: [this.registry],
    });
  }

  /** Give the gauges their sources (call once the coordinator exists). */
  observe(sources: CoordinatorMetricsSources): void {
    this.sources = sources;
  }

  /** Pass as `CoordinatorOptions.onSweepEvent`. */
  readonly onSweepEvent = (sweep: string, e: SweepEvent): void => {
    // a late report (a duplicate) of a sweep whose series are gone must not bring them back
    if (this.dropped.has(sweep)) return;
    if (e.type === "published") {
      const labels = { sweep, stage: e.shard.task.stage, model: e.shard.task.cell.model };
      this.zeroSeries(labels);
      this.shards.published.inc(labels);
      if (!this.publishedAt.has(e.shard.id)) this.publishedAt.set(e.shard.id, { sweep, at: this.o.now() });
      return;
    }
    if (e.type === "finished") {
      for (const [id, p] of this.publishedAt) if (p.sweep === sweep) this.publishedAt.delete(id);
      if (!this.finishedAt.has(sweep)) this.finishedAt.set(sweep, this.o.now());
      return;
    }
    if (e.type === "stage-merged" || e.type === "stage-planned") return;
    const labels = { sweep, stage: e.stage, model: e.model };
    switch (e.type) {
      case "stored": {
        this.shards.completed.inc(labels);
        this.lastProgress.set(sweep, this.o.now());
        if (e.attempt > 1) this.shards.redelivered.inc(labels);
        this.bytes.inc({ sweep }, e.bytes);
        this.merged.cases.inc(labels, e.cases);
        if (e.stage === "head-ablation") this.merged.headAblations.inc(labels, e.cases * e.dims.nLayer * e.dims.nHead);
        if (e.stage === "cna" || e.stage === "attribution")
          this.merged.neuronScores.inc(labels, e.cases * e.dims.nLayer * e.dims.dMlp);
        this.observeLatency(e.shardId, { stage: e.stage, model: e.model }, e.runMs);
        return;
      }
      case "duplicate":
        this.shards.duplicate.inc(labels);
        if (e.attempt > 1) this.shards.redelivered.inc(labels);
        if (!e.matches) this.merged.nondeterminism.inc(labels);
        this.bytes.inc({ sweep }, e.bytes);
        return;
      case "failed":
        this.shards.failed.inc(labels);
        return;
      case "quarantined":
        this.shards.quarantined.inc(labels);
        this.publishedAt.delete(e.shardId);
        return;
      case "corrupt":
        this.shards.corrupt.inc(labels);
        return;
    }
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
    await this.refreshGauges();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Serves {@link render} on http://HOST:PORT/metrics (port 0 picks one). */
  serveMetrics(at: MetricsEndpoint): Promise<MetricsServer> {
    return serveMetricsText(at, () => this.render());
  }

  private shardCounter(name: string, help: string): Counter<(typeof SHARD_LABELS)[number]> {
    return new Counter({ name, help, labelNames: SHARD_LABELS, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private zeroSeries(labels: Record<(typeof SHARD_LABELS)[number], string>): void {
    const key = `${labels.sweep}\n${labels.stage}\n${labels.model}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    for (const c of [...Object.values(this.shards), ...Object.values(this.merged)]) c.inc(labels, 0);
    this.bytes.inc({ sweep: labels.sweep }, 0);
  }

  private observeLatency(shardId: string, labels: { stage: string; model: string }, runMs: number | undefined): void {
    const at = this.publishedAt.get(shardId)?.at;
    this.publishedAt.delete(shardId);
    const totalS = at === undefined ? undefined : (this.o.now() - at) / 1000;
    if (totalS !== undefined) this.latency.observe({ ...labels, phase: "total" }, totalS);
    if (runMs === undefined) return;
    this.latency.observe({ ...labels, phase: "run" }, runMs / 1000);
    if (totalS !== undefined) this.latency.observe({ ...labels, phase: "queue" }, Math.max(0, totalS - runMs / 1000));
  }

  /**
   * The views whose sweeps still have series: a sweep finished (or cancelled, which sends no
   * event, so first seen terminal here) `sweepGraceMs` ago or more loses every series it had.
   */
  private dropExpired(views: readonly SweepView[]): SweepView[] {
    const now = this.o.now();
    for (const v of views)
      if (TERMINAL_STATES.has(v.state) && !this.dropped.has(v.sweepId) && !this.finishedAt.has(v.sweepId))
        this.finishedAt.set(v.sweepId, now);
    for (const [sweep, at] of this.finishedAt) {
      if (now - at < this.o.sweepGraceMs) continue;
      this.finishedAt.delete(sweep);
      this.dropped.add(sweep);
      this.lastProgress.delete(sweep);
      this.bytes.remove({ sweep });
      for (const key of this.seen) {
        const [s, stage, model] = key.split("\n") as [string, string, string];
        if (s !== sweep) continue;
        this.seen.delete(key);
        for (const c of [...Object.values(this.shards), ...Object.values(this.merged)])
          c.remove({ sweep, stage, model });
      }
    }
    return views.filter((v) => !this.dropped.has(v.sweepId));
  }

  /** Sets every gauge from the sources; called by render(), so each scrape reads them once. */
  private async refreshGauges(): Promise<void> {
    const g = this.gauges;
    for (const gauge of Object.values(g)) gauge.reset();
    const all = this.sources.sweeps.list();
    for (const s of SWEEP_STATES) g.sweeps.set({ state: s }, all.filter((v) => v.state === s).length);
    const views = this.dropExpired(all);
    for (const v of views) {
      const sweep = v.sweepId;
      for (const s of SWEEP_STATES) g.state.set({ sweep, state: s }, v.state === s ? 1 : 0);
      g.progress.set({ sweep }, v.shardsExpected > 0 ? v.shardsStored / v.shardsExpected : 0);
      g.shards.set({ sweep, status: "stored" }, v.shardsStored);
      g.shards.set({ sweep, status: "quarantined" }, v.quarantined.length);
      g.shards.set(
        { sweep, status: "remaining" },
        Math.max(0, v.shardsExpected - v.shardsStored - v.quarantined.length),
      );
      g.lastProgress.set(
        { sweep },
        Math.max(this.lastProgress.get(sweep) ?? 0, v.createdAt.getTime(), this.startedAt) / 1000,
      );
      if (v.etaSeconds !== null) g.eta.set({ sweep }, v.etaSeconds);
      if (this.o.deadlineHours !== null)
        g.deadline.set({ sweep }, v.createdAt.getTime() / 1000 + this.o.deadlineHours * 3600);
    }
    // NaN while the depth is unknown (no queue, broker unreachable; the latter is counted):
    // failing the whole scrape instead would hide every other metric with it.
    let depth = { waiting: Number.NaN, unacked: Number.NaN };
    if (this.sources.queue) {
      try {
        depth = await this.sources.queue.pending();
      } catch {
        this.pendingErrors.inc();
      }
    }
    g.waiting.set(depth.waiting);
    g.unacked.set(depth.unacked);
  }
}
