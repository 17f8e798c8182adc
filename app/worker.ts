/**
 * The worker's composition root: one resolved options object in, started workers out — the
 * shard queue and result sink (in-process, or NATS JetStream and gRPC to the coordinator), the
 * `ModelCache`, the `ShardWorker`s, WorkerService and the /metrics endpoint. `cna worker` and
 * every local run start them here; nothing else constructs these.
 */
import { hostname } from "node:os";
import { SpecError, silentLogger } from "../core/index.ts";
import type { Logger, Provider, ResultSink, ShardQueue, ShardTask } from "../core/index.ts";
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
import { NamespaceMismatchError } from "./errors.ts";
import { openShardQueue, resolveNatsOptions, retryWhileUnreachable } from "./nats.ts";
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
  /** shards one JetStream pull request asks for; the rest wait here, held with working() (default 1) */
  pullBatch?: number;
  /** the operator's log (default: none): start, drain and stop at info, shards at debug, failures at warn */
  log?: Logger;
  /** the directories checkModelPath allows, named in the start line (default: none named) */
  modelsRoots?: readonly string[];
  /** every worker event, but `misrouted` only once per sweep (the process's first hand-back of it) */
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
  pullBatch: number;
  log: Logger;
  modelsRoots: readonly string[];
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
    pullBatch: integerField("pullBatch", o.pullBatch, 1, 1),
    log: o.log ?? silentLogger,
    modelsRoots: o.modelsRoots ?? [],
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
  /** the namespace it pulls from through NATS (its coordinator's); null in-process */
  readonly namespace: string | null;
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
  let namespace: string | null = null;
  if (o.transport.kind === "nats") {
    const t = o.transport;
    sink = grpcSink = new GrpcResultSink({ address: t.coordinator, ...t.client });
    try {
      namespace = await namespaceOf(grpcSink, t.coordinator, t.nats, notice);
      const js = await openShardQueue(
        t.nats,
        namespace,
        {
          followConsumer: true,
          pullBatch: o.pullBatch,
          onMisrouted: (id, reason) => notice({ topic: "nats", message: `shard ${id} handed back: ${reason}` }),
        },
        notice,
      );
      // the coordinator sets the consumer's ack wait; heartbeats come well within it
      heartbeatMs = Math.max(100, Math.min(5_000, Math.floor(js.ackWaitMs / 4)));
      queue = js;
    } catch (err) {
      grpcSink.close();
      throw err;
    }
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
  // a misrouted shard comes back to some worker at once, again and again: told once per sweep
  const misroutedSweeps = new Set<string>();
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
        if (e.type === "misrouted") {
          if (misroutedSweeps.has(e.sweepId)) return;
          misroutedSweeps.add(e.sweepId);
        }
        logWorkerEvent(o.log, id, e);
        o.onWorkerEvent(id, e);
      },
    });
  });
  const inFlight = () => workers.reduce((n, w) => n + w.inFlight, 0);
  let draining = false;
  const drain = async () => {
    if (!draining) o.log.info("worker draining", { worker: o.id, shardsInFlight: inFlight() });
    draining = true;
    await Promise.all(workers.map((w) => w.drain()));
  };
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
  o.log.info("worker started", {
    worker: o.id,
    provider: o.provider,
    modelsRoots: o.modelsRoots.join(",") || undefined,
    concurrency: o.concurrency,
    loops: o.loops,
    coordinator: o.transport.kind === "nats" ? o.transport.coordinator : "in-process",
  });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await drain();
      await server?.close();
      await metricsServer?.close();
      await letGo();
      o.log.info("worker stopped", { worker: o.id });
    })());
  return {
    id: o.id,
    namespace,
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

/**
 * The namespace to pull from: the one of the coordinator this worker reports to, asked over gRPC
 * (waiting, like the NATS connect, for a coordinator that is not up yet). So a worker never pulls
 * shards of a coordinator it does not report to; a namespace it was given must be that one.
 */
async function namespaceOf(
  sink: GrpcResultSink,
  address: string,
  nats: { namespace?: string; connectTimeoutMs: number; abort?: AbortSignal },
  notice: (n: Notice) => void,
): Promise<string> {
  const given = nats.namespace;
  const { namespace } = await retryWhileUnreachable(
    `the coordinator at ${address}`,
    nats.connectTimeoutMs,
    notice,
    () => sink.describeCoordinator(),
    nats.abort,
  );
  if (namespace === null)
    throw new NamespaceMismatchError(
      "transport.coordinator",
      `the coordinator at ${address} does not publish its shards to NATS (an embedded run); a NATS worker has nothing to pull for it`,
    );
  if (given !== undefined && given !== namespace)
    throw new NamespaceMismatchError(
      "transport.nats.namespace",
      `namespace ${JSON.stringify(given)} was given, but the coordinator at ${address} publishes under ${JSON.stringify(namespace)}: a worker pulls only the shards of the coordinator it reports to (give its namespace, or none)`,
    );
  return namespace;
}

/** Shards started and finished are debug (one each per shard); a failed attempt is a warning, with its code. */
function logWorkerEvent(log: Logger, worker: string, e: WorkerEvent): void {
  if (e.type === "started")
    log.debug("shard started", { worker, shard: e.shardId, stage: e.stage, model: e.model, attempt: e.attempt });
  else if (e.type === "finished")
    log.debug("shard finished", {
      worker,
      shard: e.shardId,
      stage: e.stage,
      model: e.model,
      attempt: e.attempt,
      ms: e.ms === undefined ? undefined : Math.round(e.ms),
    });
  else if (e.type === "failed")
    log.warn("shard failed", {
      worker,
      shard: e.shardId,
      code: e.code,
      retryable: e.retryable,
      reason: e.message,
    });
  else if (e.type === "misrouted")
    log.warn("shard handed back unrun", {
      worker,
      shard: e.shardId,
      sweep: e.sweepId,
      reason: e.reason,
      note: "further shards of this sweep are handed back silently",
    });
}
