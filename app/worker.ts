/**
 * The worker's composition root: one resolved options object in, started workers out — the
 * shard queue and result sink (in-process, or NATS JetStream and gRPC to the coordinator), the
 * `ModelCache`, the `ShardWorker`s, WorkerService and the /metrics endpoint. `cna worker` and
 * every local run start them here; nothing else constructs these.
 */
import { hostname } from "node:os";
import { SpecError } from "../core/index.ts";
import type { Provider, ResultSink, ShardQueue, ShardTask } from "../core/index.ts";
import type { GrpcClientOptions, TlsServerOptions } from "../proto/index.ts";
import { checkTlsServerOptions } from "../proto/index.ts";
import type { MetricsServer } from "../transport/index.ts";
import {
  GrpcResultSink,
  ModelCache,
  ShardWorker,
  WorkerMetrics,
  analyzePrompt,
  availableProviders,
  startWorkerServer,
} from "../worker/index.ts";
import type { WorkerEvent, WorkerServer } from "../worker/index.ts";
import { openShardQueue, resolveNatsOptions } from "./nats.ts";
import type { NatsOptions, ResolvedNatsOptions } from "./nats.ts";
import { hostPortField, integerField, positiveField, providerField } from "./options.ts";
import type { HostPort, Notice } from "./options.ts";
import { buildInfo } from "./version.ts";

/**
 * Where shards come from and results go: a coordinator's in-process queue and sink
 * (`RunningCoordinator.inProcess`), or NATS JetStream and the coordinator's gRPC address.
 */
export type WorkerTransport =
  | { kind: "memory"; queue: ShardQueue<ShardTask>; sink: ResultSink }
  | { kind: "nats"; nats: NatsOptions; coordinator: string; client?: GrpcClientOptions };

export interface WorkerOptions {
  /** required */
  transport: WorkerTransport;
  /** the name in results and logs (default HOST-PID) */
  id?: string;
  /** shards one worker runs at once (default 1) */
  concurrency?: number;
  /** workers in this process sharing its models, named `<id>-<i>` when more than one (default 1, named `<id>`) */
  loops?: number;
  /** ONNX Runtime execution provider (default cpu) */
  provider?: Provider;
  /** ONNX Runtime threads per operator (default: one per core) */
  threads?: number;
  /** keep loaded models within this many bytes of weights (default 8 GiB) */
  modelBudgetBytes?: number;
  /** refuses a model path this worker may not open, naming `field` (default: none refused) */
  checkModelPath?: (path: string, field: string) => void;
  /** serve WorkerService (describe, analyze, drain) here (default: not served) */
  listen?: HostPort | null;
  /** WorkerService calls must carry this bearer token (default none) */
  token?: string;
  /** WorkerService serves TLS (default plaintext) */
  tls?: TlsServerOptions;
  /** serve Prometheus metrics here (default off) */
  metrics?: { listen: HostPort } | null;
  /** how long one pull waits for a shard (default 1000) */
  pullTimeoutMs?: number;
  onWorkerEvent?: (workerId: string, e: WorkerEvent) => void;
  onNotice?: (n: Notice) => void;
}

export interface ResolvedWorkerOptions {
  transport:
    | { kind: "memory"; queue: ShardQueue<ShardTask>; sink: ResultSink }
    | { kind: "nats"; nats: ResolvedNatsOptions; coordinator: string; client: GrpcClientOptions };
  id: string;
  concurrency: number;
  loops: number;
  provider: Provider;
  threads: number | undefined;
  modelBudgetBytes: number | undefined;
  checkModelPath: ((path: string, field: string) => void) | null;
  listen: HostPort | null;
  token: string | null;
  tls: TlsServerOptions | null;
  metrics: { listen: HostPort } | null;
  pullTimeoutMs: number;
  onWorkerEvent: (workerId: string, e: WorkerEvent) => void;
  onNotice: ((n: Notice) => void) | null;
}

export function resolveWorkerOptions(o: WorkerOptions): ResolvedWorkerOptions {
  const t = o.transport;
  if (t?.kind !== "memory" && t?.kind !== "nats")
    throw new SpecError(
      "transport",
      'transport must be { kind: "memory", queue, sink } or { kind: "nats", nats, coordinator }',
    );
  if (t.kind === "nats" && (typeof t.coordinator !== "string" || t.coordinator === ""))
    throw new SpecError(
      "transport.coordinator",
      "transport.coordinator must be the coordinator's gRPC address, HOST:PORT",
    );
  const id = o.id ?? `${hostname()}-${process.pid}`;
  if (typeof id !== "string" || id === "") throw new SpecError("id", "id must be a non-empty name");
  const metricsListen = o.metrics ? hostPortField("metrics.listen", o.metrics.listen, null) : null;
  return {
    transport:
      t.kind === "nats"
        ? {
            kind: "nats",
            nats: resolveNatsOptions("transport.nats", t.nats),
            coordinator: t.coordinator,
            client: t.client ?? {},
          }
        : t,
    id,
    concurrency: integerField("concurrency", o.concurrency, 1, 1),
    loops: integerField("loops", o.loops, 1, 1),
    provider: providerField("provider", o.provider, "cpu"),
    threads: o.threads === undefined ? undefined : integerField("threads", o.threads, 1, 1),
    modelBudgetBytes: positiveField("modelBudgetBytes", o.modelBudgetBytes),
    checkModelPath: o.checkModelPath ?? null,
    listen: hostPortField("listen", o.listen, null),
    token: o.token ?? null,
    // the files are read and checked now: a bad pair stops the start before anything connects
    tls: o.tls ? checkTlsServerOptions(o.tls) : null,
    metrics: metricsListen ? { listen: metricsListen } : null,
    pullTimeoutMs: integerField("pullTimeoutMs", o.pullTimeoutMs, 1, 1_000),
    onWorkerEvent: o.onWorkerEvent ?? (() => undefined),
    onNotice: o.onNotice ?? null,
  };
}

/** What a process's workers are doing: how many run a shard, of how many, holding how many shards, failures so far. */
export interface WorkerActivity {
  active: number;
  workers: number;
  shardsInFlight: number;
  failures: number;
}

/** Started workers; `close()` (or `await using`) drains them, then stops the servers and lets go of the queue and models. */
export interface RunningWorker extends AsyncDisposable {
  readonly id: string;
  /** where WorkerService listens (the bound port), or null */
  readonly listen: HostPort | null;
  /** where /metrics is served (the bound port), or null */
  readonly metrics: HostPort | null;
  /** resolves, saying how, when every worker has stopped by itself (drained through WorkerService, or failed) */
  readonly stopped: Promise<string>;
  activity(): WorkerActivity;
  /** stops pulling; resolves once the shards held are reported */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const o = resolveWorkerOptions(options);
  const metrics = o.metrics ? new WorkerMetrics() : null;
  const notice = (n: Notice) => o.onNotice?.(n);
  let queue: ShardQueue<ShardTask>;
  let sink: ResultSink;
  let grpcSink: GrpcResultSink | null = null;
  let heartbeatMs: number | undefined;
  if (o.transport.kind === "nats") {
    const js = await openShardQueue(o.transport.nats, { followConsumer: true }, notice);
    // the coordinator sets the consumer's ack wait; heartbeats come well within it
    heartbeatMs = Math.max(100, Math.min(5_000, Math.floor(js.ackWaitMs / 4)));
    queue = js;
    sink = grpcSink = new GrpcResultSink({ address: o.transport.coordinator, ...o.transport.client });
  } else {
    ({ queue, sink } = o.transport);
  }
  const models = new ModelCache({
    provider: o.provider,
    intraOpThreads: o.threads,
    ...(o.checkModelPath ? { checkModelPath: o.checkModelPath } : {}),
    ...(o.modelBudgetBytes !== undefined ? { budgetBytes: o.modelBudgetBytes } : {}),
    ...(o.onNotice ? { onNotice: (message: string) => notice({ topic: "engine", message }) } : {}),
    ...(metrics ? { onEvent: metrics.onModelCacheEvent, onRun: metrics.onRun } : {}),
  });
  let failures = 0;
  const workers = Array.from({ length: o.loops }, (_, i) => {
    const id = o.loops === 1 ? o.id : `${o.id}-${i}`;
    return new ShardWorker(queue, sink, models, {
      id,
      concurrency: o.concurrency,
      pullTimeoutMs: o.pullTimeoutMs,
      ...(heartbeatMs !== undefined ? { heartbeatMs } : {}),
      onEvent: (e) => {
        if (e.type === "failed") failures++;
        metrics?.onWorkerEvent(e);
        o.onWorkerEvent(id, e);
      },
    });
  });
  const inFlight = () => workers.reduce((n, w) => n + w.inFlight, 0);
  const drain = async () => void (await Promise.all(workers.map((w) => w.drain())));
  metrics?.observe({ inFlight, concurrency: o.concurrency * o.loops });
  const letGo = async () => {
    // the in-process queue and sink are the coordinator's, closed with it
    if (o.transport.kind === "nats") await queue.close();
    await grpcSink?.[Symbol.asyncDispose]();
    await models.close();
  };
  // the servers first, so a port that cannot be had stops the worker before it takes a shard
  let metricsServer: MetricsServer | null = null;
  let server: WorkerServer | null = null;
  try {
    if (metrics && o.metrics) metricsServer = await metrics.serveMetrics(o.metrics.listen);
    if (o.listen) {
      const build = buildInfo();
      const executionProviders = availableProviders();
      server = await startWorkerServer({
        host: o.listen.host,
        port: o.listen.port,
        ...(o.token !== null ? { token: o.token } : {}),
        ...(o.tls ? { tls: o.tls } : {}),
        describe: () => ({
          id: o.id,
          state: workers[0]!.status,
          provider: o.provider,
          modelsLoaded: models.loaded(),
          inFlight: inFlight(),
          ...build,
          executionProviders,
        }),
        analyze: (req) => analyzePrompt(models, req),
        drain,
      });
    }
  } catch (err) {
    await metricsServer?.close();
    await letGo();
    throw err;
  }
  for (const w of workers) w.start();
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await drain();
      await server?.close();
      await metricsServer?.close();
      await letGo();
    })());
  return {
    id: o.id,
    listen: server && o.listen ? { host: o.listen.host, port: server.port } : null,
    metrics: metricsServer && o.metrics ? { host: o.metrics.listen.host, port: metricsServer.port } : null,
    stopped: Promise.all(workers.map((w) => w.stopped)).then((how) => how[0]!),
    activity: () => ({
      active: workers.filter((w) => w.inFlight > 0).length,
      workers: workers.length,
      shardsInFlight: inFlight(),
      failures,
    }),
    drain,
    close,
    [Symbol.asyncDispose]: close,
  };
}
