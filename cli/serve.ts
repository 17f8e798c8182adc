/**
 * The two long-running deployables: `cna coordinator` (gRPC SweepService over its data
 * directory, publishing shards to JetStream) and `cna worker` (pulls shards, streams results to
 * the coordinator, serves WorkerService). Both stop cleanly on SIGTERM/SIGINT: the worker stops
 * pulling, finishes or gives back what it holds, and exits 0.
 */
import { DEFAULT_MAX_RESULT_BYTES, MAX_RESULT_BYTES_FLAG } from "../coordinator/index.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../proto/index.ts";
import { COORDINATOR_DEFAULTS, startCoordinator, startWorker } from "../app/index.ts";
import { HELP_FLAG, parseFlags } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { SWEEP_LIMIT_FLAGS } from "./limits.ts";
import type { Command } from "./command.ts";
import { AUTH_FLAGS, INSECURE_FLAG, NATS_FLAGS } from "./connect.ts";
import { MODELS_ROOT_FLAG } from "./models-root.ts";
import { COORDINATOR_METRICS_FLAGS, WORKER_METRICS_FLAGS, metricsLine } from "./metrics.ts";
import { DEFAULT_COORDINATOR_LISTEN, coordinatorOptionsOf, workerOptionsOf } from "./options.ts";

const COORDINATOR_FLAGS: readonly FlagSpec[] = [
  {
    name: "data",
    value: "DIR",
    required: true,
    help: "the coordinator's data directory (journal and results of every sweep)",
  },
  {
    name: "listen",
    value: "HOST:PORT",
    help: `gRPC address (default ${DEFAULT_COORDINATOR_LISTEN}; port 0 picks one)`,
  },
  ...NATS_FLAGS,
  ...AUTH_FLAGS,
  INSECURE_FLAG,
  MODELS_ROOT_FLAG,
  {
    name: "ack-wait",
    value: "SECONDS",
    help: `JetStream ack wait: a worker silent this long loses its shard (default ${COORDINATOR_DEFAULTS.ackWaitMs / 1000})`,
  },
  {
    name: "max-deliver",
    value: "N",
    help: `deliveries of a shard before it is quarantined (default ${COORDINATOR_DEFAULTS.maxDeliver})`,
  },
  {
    name: "journal-compact-bytes",
    value: "N",
    help: `compact a sweep's journal into a snapshot once it holds N bytes and more than its last snapshot (default ${COORDINATOR_DEFAULTS.compactJournalBytes})`,
  },
  ...SWEEP_LIMIT_FLAGS,
  {
    name: "max-message-bytes",
    value: "N",
    help: `largest gRPC message accepted, e.g. a SubmitSweep (default ${DEFAULT_MAX_MESSAGE_BYTES})`,
  },
  {
    name: MAX_RESULT_BYTES_FLAG.slice(2),
    value: "N",
    help: `largest shard result a worker may report, all its chunks together (default ${DEFAULT_MAX_RESULT_BYTES})`,
  },
  ...COORDINATOR_METRICS_FLAGS,
  HELP_FLAG,
];

const WORKER_FLAGS: readonly FlagSpec[] = [
  {
    name: "coordinator",
    value: "HOST:PORT",
    required: true,
    help: "the coordinator's gRPC address (results go there)",
  },
  ...NATS_FLAGS,
  ...AUTH_FLAGS,
  INSECURE_FLAG,
  MODELS_ROOT_FLAG,
  { name: "id", value: "NAME", help: "worker name in results and logs (default HOST-PID)" },
  { name: "concurrency", value: "N", help: "shards run at once (default 1)" },
  { name: "listen", value: "HOST:PORT", help: "serve WorkerService (describe, analyze, drain) here" },
  { name: "provider", value: "NAME", help: "execution provider: cpu (default) or cuda" },
  { name: "threads", value: "N", help: "ONNX Runtime threads per operator (default: one per core)" },
  { name: "model-budget", value: "GIB", help: "keep loaded models within this many GiB of weights (default 8)" },
  ...WORKER_METRICS_FLAGS,
  HELP_FLAG,
];

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
    const line = (text: string) => io.stderr.write(`cna coordinator: ${text}\n`);
    const options = coordinatorOptionsOf(parseFlags(COORDINATOR_FLAGS, argv), process.env, (warning) =>
      io.stderr.write(`${warning}\n`),
    );
    const running = await startCoordinator({
      ...options,
      onNotice: (n) => line(n.message),
      onSweepEvent: (sweep, e) => {
        if (e.type === "corrupt")
          line(
            `${sweep}: the stored result of ${e.stage} shard ${e.shardId} (${e.model}) was corrupt; moved aside, computing it again`,
          );
      },
    });
    if (running.metrics) io.stderr.write(`${metricsLine("cna coordinator", running.metrics)}\n`);
    const auth =
      [options.token ? "token required" : "", options.tls ? "TLS" : ""].filter(Boolean).join(", ") ||
      "no authentication";
    line(`listening on ${running.listen!.host}:${running.listen!.port} (${auth}); data in ${options.dataDir}`);
    const signal = await untilSignal();
    line(`${signal}, shutting down`);
    await running.close();
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
    const options = workerOptionsOf(v, process.env, (warning) => io.stderr.write(`${warning}\n`));
    const id = options.id;
    const line = (text: string) => io.stderr.write(`cna worker ${id}: ${text}\n`);
    const running = await startWorker({
      ...options,
      onNotice: (n) => (n.topic === "engine" ? io.stderr.write(`${n.message}\n`) : line(n.message)),
      onWorkerEvent: (_, e) => {
        if (e.type === "started") line(`${e.stage} ${e.model} shard ${e.shardId} started (attempt ${e.attempt})`);
        if (e.type === "finished")
          line(
            `${e.stage} ${e.model} shard ${e.shardId} done in ${((e.ms ?? 0) / 1000).toFixed(1)} s (attempt ${e.attempt})`,
          );
        if (e.type === "failed")
          line(`shard ${e.shardId} failed: ${e.code}: ${e.message}${e.retryable ? " (will retry)" : ""}`);
      },
    });
    if (running.metrics) io.stderr.write(`${metricsLine(`cna worker ${id}`, running.metrics)}\n`);
    line(
      `pulling shards; results to ${String(v.coordinator)}${running.listen ? `; WorkerService on port ${running.listen.port}` : ""}`,
    );
    const signal = await Promise.race([untilSignal(), running.stopped]);
    line(`${signal}, draining`);
    await running.close();
    return 0;
  },
};
