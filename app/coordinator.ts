/**
 * The coordinator's composition root: one resolved options object in, a started coordinator out
 * — its shard queue (in-process, or NATS JetStream), the `Coordinator` over its data directory,
 * the gRPC SweepService and the /metrics endpoint. `cna coordinator` and every local run start it
 * here; nothing else constructs these.
 */
import { MemoryShardQueue, SpecError, silentLogger } from "../core/index.ts";
import type { Logger, ResultSink, ShardQueue, ShardTask, SweepLimits } from "../core/index.ts";
import {
  Coordinator,
  CoordinatorMetrics,
  DEFAULT_COMPACT_JOURNAL_BYTES,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_WORKER_QUIET_MS,
  openDataDir,
  startSweepServer,
} from "../coordinator/index.ts";
import type { SweepEvent, SweepServer } from "../coordinator/index.ts";
import { DEFAULT_MAX_MESSAGE_BYTES, checkTlsServerOptions } from "../proto/index.ts";
import type { TlsServerOptions } from "../proto/index.ts";
import type { MetricsServer } from "../transport/index.ts";
import { digestCheckpoint, readModelHeads } from "../worker/index.ts";
import { namespaceOfDataDir, openShardQueue, resolveNatsOptions } from "./nats.ts";
import type { NatsOptions, ResolvedNatsOptions } from "./nats.ts";
import { hostPortField, integerField, positiveField } from "./options.ts";
import type { HostPort, Notice } from "./options.ts";

/** Where shards go: the in-process queue (workers in this process), or NATS JetStream. */
export type CoordinatorTransport = { kind: "memory" } | { kind: "nats"; nats: NatsOptions };

export interface CoordinatorOptions {
  /** the data directory: a journal and result blobs per sweep (required) */
  dataDir: string;
  /** default `{ kind: "memory" }` */
  transport?: CoordinatorTransport;
  /** serve SweepService here (default 127.0.0.1:0, a free port); null: no gRPC server */
  listen?: HostPort | null;
  /** every gRPC call but health must carry this bearer token (default none) */
  token?: string;
  /** serve TLS (default plaintext) */
  tls?: TlsServerOptions;
  /** largest gRPC message accepted, e.g. a SubmitSweep (default DEFAULT_MAX_MESSAGE_BYTES) */
  maxMessageBytes?: number;
  /** largest shard result a worker may report, all its chunks together (default DEFAULT_MAX_RESULT_BYTES) */
  maxResultBytes?: number;
  /** a worker silent this long loses its shard (default 60 000) */
  ackWaitMs?: number;
  /** deliveries of a shard before it is quarantined (default 5) */
  maxDeliver?: number;
  /** bounds on a submitted sweep (default DEFAULT_SWEEP_LIMITS) */
  limits?: Partial<SweepLimits>;
  /** refuses a model path this coordinator may not open, throwing an error that names `field` (default: none refused) */
  checkModelPath?: (path: string, field: string) => void;
  /**
   * serve Prometheus metrics at `listen` (default off); `sweepDeadlineHours` exports each sweep's
   * deadline; a finished sweep's series are dropped `sweepGraceMs` after it finished (default DEFAULT_SWEEP_GRACE_MS)
   */
  metrics?: { listen: HostPort; sweepDeadlineHours?: number; sweepGraceMs?: number } | null;
  /** resume every unfinished sweep of the data directory at start (default true); false: only when submitted again */
  resumeAtStart?: boolean;
  /** keep each finished sweep's rankings in its rankings.json, served from there after a restart (default true); false: merged again in each life */
  keepRankings?: boolean;
  /** the operator's log (default: none); the CLI's writes to stderr at --log-level in --log-format */
  log?: Logger;
  /** a worker that has reported nothing for this long is logged as left (default DEFAULT_WORKER_QUIET_MS) */
  workerQuietMs?: number;
  /** remove sweeps finished or cancelled this long ago from the data directory (default: kept) */
  retentionMs?: number;
  /** compact a sweep's journal once it holds this many bytes (and more than its last snapshot); default 16 MiB */
  compactJournalBytes?: number;
  onSweepEvent?: (sweepId: string, e: SweepEvent) => void;
  onNotice?: (n: Notice) => void;
}

export interface ResolvedCoordinatorOptions {
  dataDir: string;
  transport: { kind: "memory" } | { kind: "nats"; nats: ResolvedNatsOptions };
  listen: HostPort | null;
  token: string | null;
  tls: TlsServerOptions | null;
  maxMessageBytes: number;
  maxResultBytes: number;
  ackWaitMs: number;
  maxDeliver: number;
  limits: Partial<SweepLimits>;
  checkModelPath: ((path: string, field: string) => void) | null;
  metrics: { listen: HostPort; sweepDeadlineHours: number | undefined; sweepGraceMs: number | undefined } | null;
  resumeAtStart: boolean;
  keepRankings: boolean;
  log: Logger;
  workerQuietMs: number;
  retentionMs: number | null;
  compactJournalBytes: number;
  onSweepEvent: (sweepId: string, e: SweepEvent) => void;
  onNotice: (n: Notice) => void;
}

export const COORDINATOR_DEFAULTS = {
  listen: { host: "127.0.0.1", port: 0 },
  ackWaitMs: 60_000,
  maxDeliver: 5,
  compactJournalBytes: DEFAULT_COMPACT_JOURNAL_BYTES,
} as const;

export function resolveCoordinatorOptions(o: CoordinatorOptions): ResolvedCoordinatorOptions {
  if (typeof o.dataDir !== "string" || o.dataDir === "")
    throw new SpecError("dataDir", "dataDir must name the coordinator's data directory");
  const transport = o.transport ?? { kind: "memory" };
  const metricsListen = o.metrics ? hostPortField("metrics.listen", o.metrics.listen, null) : null;
  return {
    dataDir: o.dataDir,
    transport:
      transport.kind === "nats"
        ? { kind: "nats", nats: resolveNatsOptions("transport.nats", transport.nats) }
        : { kind: "memory" },
    listen: hostPortField("listen", o.listen, { ...COORDINATOR_DEFAULTS.listen }),
    token: o.token ?? null,
    // the files are read and checked now: a bad pair stops the start before anything connects
    tls: o.tls ? checkTlsServerOptions(o.tls) : null,
    maxMessageBytes: integerField("maxMessageBytes", o.maxMessageBytes, 1024, DEFAULT_MAX_MESSAGE_BYTES),
    maxResultBytes: integerField("maxResultBytes", o.maxResultBytes, 1, DEFAULT_MAX_RESULT_BYTES),
    ackWaitMs: integerField("ackWaitMs", o.ackWaitMs, 1, COORDINATOR_DEFAULTS.ackWaitMs),
    maxDeliver: integerField("maxDeliver", o.maxDeliver, 1, COORDINATOR_DEFAULTS.maxDeliver),
    limits: o.limits ?? {},
    checkModelPath: o.checkModelPath ?? null,
    metrics: metricsListen
      ? {
          listen: metricsListen,
          sweepDeadlineHours: positiveField("metrics.sweepDeadlineHours", o.metrics?.sweepDeadlineHours),
          sweepGraceMs:
            o.metrics?.sweepGraceMs === undefined
              ? undefined
              : integerField("metrics.sweepGraceMs", o.metrics.sweepGraceMs, 0, 0),
        }
      : null,
    resumeAtStart: o.resumeAtStart ?? true,
    keepRankings: o.keepRankings ?? true,
    log: o.log ?? silentLogger,
    workerQuietMs: integerField("workerQuietMs", o.workerQuietMs, 1, DEFAULT_WORKER_QUIET_MS),
    retentionMs: o.retentionMs === undefined ? null : integerField("retentionMs", o.retentionMs, 0, 0),
    compactJournalBytes: integerField(
      "compactJournalBytes",
      o.compactJournalBytes,
      1024,
      COORDINATOR_DEFAULTS.compactJournalBytes,
    ),
    onSweepEvent: o.onSweepEvent ?? (() => undefined),
    onNotice: o.onNotice ?? (() => undefined),
  };
}

/** A started coordinator; `close()` (or `await using`) stops the server, the queue and the stores. */
export interface RunningCoordinator extends AsyncDisposable {
  /** submit, get, list, watch, cancel and rankings, in domain types */
  readonly coordinator: Coordinator;
  /** where SweepService listens (the bound port), or null without a server */
  readonly listen: HostPort | null;
  /** `host:port` for gRPC clients and workers to dial, or null without a server */
  readonly address: string | null;
  /**
   * the namespace its shards are published under through NATS (given, or derived from the data
   * directory), told to workers by DescribeCoordinator; null in-process
   */
  readonly namespace: string | null;
  /** where /metrics is served (the bound port), or null */
  readonly metrics: HostPort | null;
  /** the in-process transport, for workers in this process: where they pull and report (null through NATS) */
  readonly inProcess: { queue: ShardQueue<ShardTask>; sink: ResultSink } | null;
  close(): Promise<void>;
}

export async function startCoordinator(options: CoordinatorOptions): Promise<RunningCoordinator> {
  const o = resolveCoordinatorOptions(options);
  const metrics = o.metrics
    ? new CoordinatorMetrics({
        ...(o.metrics.sweepDeadlineHours === undefined ? {} : { deadlineHours: o.metrics.sweepDeadlineHours }),
        ...(o.metrics.sweepGraceMs === undefined ? {} : { sweepGraceMs: o.metrics.sweepGraceMs }),
      })
    : null;
  // a data directory that cannot be written stops the start before anything connects
  await openDataDir(o.dataDir);
  let coordinator: Coordinator | undefined;
  const queueOptions = {
    ackWaitMs: o.ackWaitMs,
    maxDeliver: o.maxDeliver,
    onDead: (id: string, reason: string) => coordinator?.shardDead(id, reason),
  };
  // through NATS, the shards go to the namespace's own stream: given, or this data directory's
  const namespace =
    o.transport.kind === "nats" ? (o.transport.nats.namespace ?? (await namespaceOfDataDir(o.dataDir))) : null;
  const queue: ShardQueue<ShardTask> =
    o.transport.kind === "nats" && namespace !== null
      ? await openShardQueue(o.transport.nats, namespace, queueOptions, o.onNotice)
      : new MemoryShardQueue<ShardTask>({
          ...queueOptions,
          onDeliver: (id, n) => coordinator?.shardDelivered(id, n),
          groupOf: (t) => t.sweepId,
        });
  coordinator = new Coordinator({
    dataDir: o.dataDir,
    queue,
    limits: o.limits,
    resumeAtStart: o.resumeAtStart,
    keepRankings: o.keepRankings,
    log: o.log,
    workerQuietMs: o.workerQuietMs,
    ...(o.retentionMs !== null ? { retentionMs: o.retentionMs } : {}),
    compactJournalBytes: o.compactJournalBytes,
    digestModel: digestCheckpoint,
    modelHeads: readModelHeads,
    ...(o.checkModelPath ? { checkModelPath: o.checkModelPath } : {}),
    onSweepEvent: (sweep, e) => {
      metrics?.onSweepEvent(sweep, e);
      o.onSweepEvent(sweep, e);
    },
  });
  let metricsServer: MetricsServer | null = null;
  let server: SweepServer | null = null;
  const close = async () => {
    await server?.close();
    await metricsServer?.close();
    await queue.close();
    coordinator.close();
  };
  try {
    await coordinator.start();
    if (metrics && o.metrics) {
      metrics.observe({ sweeps: coordinator, queue });
      metricsServer = await metrics.serveMetrics(o.metrics.listen);
    }
    if (o.listen) {
      server = await startSweepServer({
        backend: coordinator,
        host: o.listen.host,
        port: o.listen.port,
        maxMessageBytes: o.maxMessageBytes,
        maxResultBytes: o.maxResultBytes,
        namespace,
        ...(o.token !== null ? { token: o.token } : {}),
        ...(o.tls ? { tls: o.tls } : {}),
      });
    }
  } catch (err) {
    // a failed start (a taken port, a bad data directory) leaves nothing open
    await close();
    throw err;
  }
  const backend = coordinator;
  let closing: Promise<void> | undefined;
  return {
    coordinator: backend,
    listen: server && o.listen ? { host: o.listen.host, port: server.port } : null,
    address: server?.address ?? null,
    namespace,
    metrics: metricsServer && o.metrics ? { host: o.metrics.listen.host, port: metricsServer.port } : null,
    inProcess:
      o.transport.kind === "memory"
        ? {
            queue,
            sink: { report: async (r) => void (await backend.reportShard(r)), fail: (f) => backend.reportFailure(f) },
          }
        : null,
    close: () => (closing ??= close()),
    [Symbol.asyncDispose]: () => (closing ??= close()),
  };
}
