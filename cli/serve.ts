/**
 * The two long-running deployables: `cna coordinator` (gRPC SweepService over its data
 * directory, publishing shards to JetStream) and `cna worker` (pulls shards, streams results to
 * the coordinator, serves WorkerService). Both stop cleanly on SIGTERM/SIGINT: the worker stops
 * pulling, finishes or gives back what it holds, and exits 0.
 */
import { hostname } from "node:os";
import { resolve } from "node:path";
import { existsSync } from "node:fs";
import { Coordinator, DEFAULT_MAX_RESULT_BYTES, MAX_RESULT_BYTES_FLAG, startSweepServer } from "../coordinator/index.ts";
import type { PlanSpec } from "../coordinator/index.ts";
import { EXECUTION_PROVIDERS } from "../core/index.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../proto/index.ts";
import type { Rankings } from "../core/index.ts";
import { GrpcResultSink, ModelCache, ShardWorker, analyzePrompt, availableProviders, digestCheckpoint, readModelHeads, startWorkerServer } from "../worker/index.ts";
import { choice, HELP_FLAG, integerFlag, parseFlags, stringFlag } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { SWEEP_LIMIT_FLAGS, sweepLimitsOf } from "./limits.ts";
import type { CliIo, Command } from "./command.ts";
import { AUTH_FLAGS, INSECURE_FLAG, NATS_FLAGS, checkListenSecurity, clientOptions, hostPort, openShardQueue, serverTls, tokenOf } from "./connect.ts";
import { UsageError } from "./errors.ts";
import { buildInfo } from "./version.ts";
import { MODELS_ROOT_FLAG, modelPathCheck } from "./models-root.ts";
import { COORDINATOR_METRICS_FLAGS, WORKER_METRICS_FLAGS, coordinatorMetricsOf, serveMetricsFor, workerMetricsOf } from "./metrics.ts";
import { modelsOf, modelsWithNeurons, withTopTokens } from "./top-tokens.ts";

const COORDINATOR_FLAGS: readonly FlagSpec[] = [
  { name: "data", value: "DIR", required: true, help: "the coordinator's data directory (journal and results of every sweep)" },
  { name: "listen", value: "HOST:PORT", help: "gRPC address (default 127.0.0.1:7070; port 0 picks one)" },
  ...NATS_FLAGS, ...AUTH_FLAGS, INSECURE_FLAG, MODELS_ROOT_FLAG,
  { name: "ack-wait", value: "SECONDS", help: "JetStream ack wait: a worker silent this long loses its shard (default 60)" },
  { name: "max-deliver", value: "N", help: "deliveries of a shard before it is quarantined (default 5)" },
  ...SWEEP_LIMIT_FLAGS,
  { name: "max-message-bytes", value: "N", help: `largest gRPC message accepted, e.g. a SubmitSweep (default ${DEFAULT_MAX_MESSAGE_BYTES})` },
  { name: MAX_RESULT_BYTES_FLAG.slice(2), value: "N", help: `largest shard result a worker may report, all its chunks together (default ${DEFAULT_MAX_RESULT_BYTES})` },
  ...COORDINATOR_METRICS_FLAGS,
  HELP_FLAG,
];

const WORKER_FLAGS: readonly FlagSpec[] = [
  { name: "coordinator", value: "HOST:PORT", required: true, help: "the coordinator's gRPC address (results go there)" },
  ...NATS_FLAGS, ...AUTH_FLAGS, INSECURE_FLAG, MODELS_ROOT_FLAG,
  { name: "id", value: "NAME", help: "worker name in results and logs (default HOST-PID)" },
  { name: "concurrency", value: "N", help: "shards run at once (default 1)" },
  { name: "listen", value: "HOST:PORT", help: "serve WorkerService (describe, analyze, drain) here" },
  { name: "provider", value: "NAME", help: "execution provider: cpu (default) or cuda" },
  { name: "threads", value: "N", help: "ONNX Runtime threads per operator (default: one per core)" },
  { name: "model-budget", value: "GIB", help: "keep loaded models within this many GiB of weights (default 8)" },
  ...WORKER_METRICS_FLAGS,
  HELP_FLAG,
];

/**
 * A finished sweep's rankings as `cna run` writes them: with each neuron's top tokens, from the
 * models this machine sees (at the paths the sweep was submitted with); the others are left out.
 */
function finishRankings(io: CliIo): (r: Rankings, spec: PlanSpec) => Promise<Rankings> {
  return async (r, spec) => {
    const models = modelsWithNeurons(r, modelsOf(spec));
    const here = models.filter((m) => existsSync(m.path));
    for (const m of models) if (!here.includes(m)) io.stderr.write(`cna coordinator: ${spec.sweepId}: no ${m.path} here; the rankings of ${m.id} list no top tokens\n`);
    return withTopTokens(r, here, undefined);
  };
}

/** Resolves on the first SIGTERM or SIGINT. */
function untilSignal(): Promise<string> {
  return new Promise((resolveSignal) => {
    const on = (sig: string) => () => resolveSignal(sig);
    process.once("SIGTERM", on("SIGTERM"));
    process.once("SIGINT", on("SIGINT"));
  });
}

export const coordinatorCommand: Command = {
  name: "coordinator",
  summary: "serve SweepService: plan submitted sweeps, publish shards to JetStream, store and merge results",
  synopsis: "coordinator --data DIR --nats URL [--listen HOST:PORT] [--token-file FILE] [--metrics HOST:PORT]",
  flags: COORDINATOR_FLAGS,
  run: async (argv, io) => {
    const v = parseFlags(COORDINATOR_FLAGS, argv);
    const listen = hostPort("--listen", stringFlag(v, "listen") ?? "127.0.0.1:7070");
    const ackWaitMs = 1000 * (v["ack-wait"] === undefined ? 60 : integerFlag("--ack-wait", String(v["ack-wait"]), 1));
    const maxDeliver = v["max-deliver"] === undefined ? 5 : integerFlag("--max-deliver", String(v["max-deliver"]), 1);
    const metrics = coordinatorMetricsOf(v);
    const limits = sweepLimitsOf(v);
    const checkModelPath = modelPathCheck(v);
    const maxMessageBytes = v["max-message-bytes"] === undefined ? DEFAULT_MAX_MESSAGE_BYTES : integerFlag("--max-message-bytes", String(v["max-message-bytes"]), 1024);
    const resultBytes = stringFlag(v, MAX_RESULT_BYTES_FLAG.slice(2));
    const maxResultBytes = resultBytes === undefined ? DEFAULT_MAX_RESULT_BYTES : integerFlag(MAX_RESULT_BYTES_FLAG, resultBytes, 1);
    // secrets and the listen address are checked before anything connects or starts
    const token = tokenOf(v);
    const tls = serverTls(v);
    checkListenSecurity("cna coordinator", listen.host, token !== undefined || tls !== undefined, v, (line) => io.stderr.write(`${line}\n`));
    let coordinator: Coordinator | undefined;
    const queue = await openShardQueue(v, { ackWaitMs, maxDeliver, onDead: (id, reason) => coordinator?.shardDead(id, reason) }, (line) => io.stderr.write(`cna coordinator: ${line}\n`));
    coordinator = new Coordinator({ dataDir: resolve(String(v.data)), queue, limits, digestModel: digestCheckpoint, checkModelPath, modelHeads: readModelHeads, finishRankings: finishRankings(io),
      onSweepEvent: (sweep, e) => {
        metrics?.metrics.onSweepEvent(sweep, e);
        if (e.type === "corrupt") io.stderr.write(`cna coordinator: ${sweep}: the stored result of ${e.stage} shard ${e.shardId} (${e.model}) was corrupt; moved aside, computing it again\n`);
      },
    });
    let metricsServer: Awaited<ReturnType<typeof serveMetricsFor>> | undefined | null;
    let server: Awaited<ReturnType<typeof startSweepServer>>;
    try {
      await coordinator.start();
      metrics?.metrics.observe({ sweeps: coordinator, queue });
      metricsServer = metrics && await serveMetricsFor("cna coordinator", metrics, io);
      server = await startSweepServer({ backend: coordinator, host: listen.host, port: listen.port, maxMessageBytes, maxResultBytes, ...(token ? { token } : {}), ...(tls ? { tls } : {}) });
    } catch (err) {
      // a failed start (a taken port, a bad data directory) exits instead of leaving NATS open
      await metricsServer?.close();
      await queue.close();
      coordinator.close();
      throw err;
    }
    const auth = [token ? "token required" : "", tls ? "TLS" : ""].filter(Boolean).join(", ") || "no authentication";
    io.stderr.write(`cna coordinator: listening on ${listen.host}:${server.port} (${auth}); data in ${resolve(String(v.data))}\n`);
    const signal = await untilSignal();
    io.stderr.write(`cna coordinator: ${signal}, shutting down\n`);
    await server.close();
    await metricsServer?.close();
    await queue.close();
    coordinator.close();
    return 0;
  },
};

export const workerCommand: Command = {
  name: "worker",
  summary: "pull shards from JetStream, run them on ONNX Runtime, report results to the coordinator",
  synopsis: "worker --coordinator HOST:PORT --nats URL [--concurrency N] [--listen HOST:PORT] [--metrics HOST:PORT]",
  flags: WORKER_FLAGS,
  run: async (argv, io) => {
    const v = parseFlags(WORKER_FLAGS, argv);
    const id = stringFlag(v, "id") ?? `${hostname()}-${process.pid}`;
    const concurrency = v.concurrency === undefined ? 1 : integerFlag("--concurrency", String(v.concurrency), 1);
    const threads = v.threads === undefined ? undefined : integerFlag("--threads", String(v.threads), 1);
    const provider = v.provider === undefined ? "cpu" : choice("--provider", String(v.provider), EXECUTION_PROVIDERS);
    const budget = v["model-budget"] === undefined ? 8 : Number(v["model-budget"]);
    if (!(budget > 0)) throw new UsageError("--model-budget", `--model-budget must be a positive number of GiB (got "${String(v["model-budget"])}")`);
    const coordinator = String(v.coordinator);
    hostPort("--coordinator", coordinator);
    const metrics = workerMetricsOf(v);
    const checkModelPath = modelPathCheck(v);
    const listen = stringFlag(v, "listen");
    const listenAt = listen === undefined ? undefined : hostPort("--listen", listen);
    const token = tokenOf(v);
    const tls = serverTls(v);
    if (listenAt) checkListenSecurity(`cna worker ${id}`, listenAt.host, token !== undefined || tls !== undefined, v, (line) => io.stderr.write(`${line}\n`));
    // the coordinator sets the consumer's ack wait; heartbeats come well within it
    const queue = await openShardQueue(v, { followConsumer: true }, (line) => io.stderr.write(`cna worker ${id}: ${line}\n`));
    const heartbeatMs = Math.max(100, Math.min(5_000, Math.floor(queue.ackWaitMs / 4)));
    const sink = new GrpcResultSink({ address: coordinator, ...clientOptions(v) });
    const models = new ModelCache({ provider, intraOpThreads: threads, checkModelPath, budgetBytes: budget * 2 ** 30, onNotice: (m) => io.stderr.write(`${m}\n`),
      ...(metrics ? { onEvent: metrics.metrics.onModelCacheEvent, onRun: metrics.metrics.onRun } : {}) });
    const worker = new ShardWorker(queue, sink, models, {
      id, concurrency, heartbeatMs,
      onEvent: (e) => {
        metrics?.metrics.onWorkerEvent(e);
        if (e.type === "started") io.stderr.write(`cna worker ${id}: ${e.stage} ${e.model} shard ${e.shardId} started (attempt ${e.attempt})\n`);
        if (e.type === "finished") io.stderr.write(`cna worker ${id}: ${e.stage} ${e.model} shard ${e.shardId} done in ${((e.ms ?? 0) / 1000).toFixed(1)} s (attempt ${e.attempt})\n`);
        if (e.type === "failed") io.stderr.write(`cna worker ${id}: shard ${e.shardId} failed: ${e.code}: ${e.message}${e.retryable ? " (will retry)" : ""}\n`);
      },
    });
    metrics?.metrics.observe({ inFlight: () => worker.inFlight, concurrency });
    const build = buildInfo();
    const executionProviders = availableProviders();
    // the servers first, so a port that cannot be had stops the worker before it takes a shard
    let metricsServer: Awaited<ReturnType<typeof serveMetricsFor>> | undefined | null;
    let server: Awaited<ReturnType<typeof startWorkerServer>> | undefined;
    try {
      metricsServer = metrics && await serveMetricsFor(`cna worker ${id}`, metrics, io);
      server = listenAt === undefined ? undefined : await startWorkerServer({
        host: listenAt.host, port: listenAt.port, ...(token ? { token } : {}), ...(tls ? { tls } : {}),
        describe: () => ({ id, state: worker.status, provider, modelsLoaded: models.loaded(), inFlight: worker.inFlight, ...build, executionProviders }),
        analyze: (req) => analyzePrompt(models, req),
        drain: () => worker.drain(),
      });
    } catch (err) {
      await metricsServer?.close();
      await queue.close();
      await sink[Symbol.asyncDispose]();
      await models.close();
      throw err;
    }
    worker.start();
    io.stderr.write(`cna worker ${id}: pulling shards; results to ${coordinator}${server ? `; WorkerService on port ${server.port}` : ""}\n`);
    const signal = await Promise.race([untilSignal(), worker.stopped]);
    io.stderr.write(`cna worker ${id}: ${signal}, draining\n`);
    await worker.drain();
    await server?.close();
    await metricsServer?.close();
    await queue.close();
    await sink[Symbol.asyncDispose]();
    await models.close();
    return 0;
  },
};
