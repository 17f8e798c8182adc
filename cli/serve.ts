/**
 * The two long-running deployables: `cna coordinator` (gRPC SweepService over its data
 * directory, publishing shards to JetStream) and `cna worker` (pulls shards, streams results to
 * the coordinator, serves WorkerService). Both stop cleanly on SIGTERM/SIGINT: the worker stops
 * pulling, finishes or gives back what it holds, and exits 0; a signal while either still waits
 * for NATS at start-up ends the wait and exits 0 too.
 */
import { DEFAULT_MAX_RESULT_BYTES, DEFAULT_WORKER_QUIET_MS, MAX_RESULT_BYTES_FLAG } from "../coordinator/index.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../proto/index.ts";
import { COORDINATOR_DEFAULTS, startCoordinator, startWorker } from "../app/index.ts";
import { errorInfo } from "../core/index.ts";
import { HELP_FLAG, parseFlags } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { SWEEP_LIMIT_FLAGS } from "./limits.ts";
import type { Command } from "./command.ts";
import { AUTH_FLAGS, INSECURE_FLAG, NATS_FLAGS, WORKER_NAMESPACE_HELP } from "./connect.ts";
import { LOG_FLAGS, loggerOf } from "./log.ts";
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
  {
    name: "worker-quiet",
    value: "SECONDS",
    help: `log a worker as left once it has reported nothing for this long (default ${DEFAULT_WORKER_QUIET_MS / 1000})`,
  },
  {
    name: "retention",
    value: "DURATION",
    help: "remove sweeps that finished or were cancelled this long ago (journal, results, rankings), e.g. 30d; checked at start and then periodically (default: kept for ever)",
  },
  ...LOG_FLAGS,
  HELP_FLAG,
];

const WORKER_FLAGS: readonly FlagSpec[] = [
  {
    name: "coordinator",
    value: "HOST:PORT",
    required: true,
    help: "the coordinator's gRPC address (results go there)",
  },
  ...NATS_FLAGS.map((f) => (f.name === "namespace" ? { ...f, help: WORKER_NAMESPACE_HELP } : f)),
  ...AUTH_FLAGS,
  INSECURE_FLAG,
  MODELS_ROOT_FLAG,
  { name: "id", value: "NAME", help: "worker name in results and logs (default HOST-PID)" },
  { name: "concurrency", value: "N", help: "shards run at once (default 1)" },
  {
    name: "pull-batch",
    value: "N",
    help: "shards one pull from JetStream takes (default 1); the rest wait here, held with working(): more helps quick shards, hurts slow ones",
  },
  { name: "listen", value: "HOST:PORT", help: "serve WorkerService (describe, analyze, drain) here" },
  { name: "provider", value: "NAME", help: "execution provider: cpu (default) or cuda" },
  { name: "threads", value: "N", help: "ONNX Runtime threads per operator (default: one per core)" },
  { name: "model-budget", value: "GIB", help: "keep loaded models within this many GiB of weights (default 8)" },
  ...WORKER_METRICS_FLAGS,
  ...LOG_FLAGS,
  HELP_FLAG,
];

/**
 * Resolves on the first SIGTERM or SIGINT, listened for from before the start: a signal while
 * the process still waits for NATS aborts that wait (`abort`), so it stops at once and cleanly
 * instead of dying of the signal.
 */
function untilSignal(): { signal: Promise<string>; abort: AbortSignal } {
  const controller = new AbortController();
  const signal = new Promise<string>((resolveSignal) => {
    const on = (sig: string) => () => {
      controller.abort();
      resolveSignal(sig);
    };
    process.once("SIGTERM", on("SIGTERM"));
    process.once("SIGINT", on("SIGINT"));
  });
  return { signal, abort: controller.signal };
}

/** The options with `abort` added to their NATS transport, when they have one. */
function abortable<O extends { transport?: { kind: string; nats?: object } }>(options: O, abort: AbortSignal): O {
  const t = options.transport;
  return t?.kind === "nats" && t.nats ? { ...options, transport: { ...t, nats: { ...t.nats, abort } } } : options;
}

/** Runs `start`; a stop signal that aborted it is told in a line and ends the command with 0. */
async function startOrStop<T>(
  start: () => Promise<T>,
  stop: Promise<string>,
  line: (text: string) => void,
): Promise<T | null> {
  try {
    return await start();
  } catch (err) {
    if (errorInfo(err).code !== "START_ABORTED") throw err;
    line(`${await stop}: ${errorInfo(err).message}`);
    return null;
  }
}

export const coordinatorCommand: Command = {
  name: "coordinator",
  summary: "serve SweepService: plan submitted sweeps, publish shards to JetStream, store and merge results",
  synopsis: "coordinator --data DIR --nats URL [--listen HOST:PORT] [--token-file FILE] [--metrics HOST:PORT]",
  flags: COORDINATOR_FLAGS,
  run: async (argv, io) => {
    const v = parseFlags(COORDINATOR_FLAGS, argv);
    const log = loggerOf(v, io.stderr);
    const options = coordinatorOptionsOf(v, process.env, (warning) => log.warn(warning));
    const stop = untilSignal();
    const running = await startOrStop(
      () =>
        startCoordinator({
          ...abortable(options, stop.abort),
          log,
          onNotice: (n) => log.info(n.message, { topic: n.topic }),
        }),
      stop.signal,
      (text) => log.info(text),
    );
    if (!running) return 0;
    if (running.metrics) log.info(metricsLine("cna coordinator", running.metrics));
    const auth =
      [options.token ? "token required" : "", options.tls ? "TLS" : ""].filter(Boolean).join(", ") ||
      "no authentication";
    log.info("coordinator started", {
      listen: `${running.listen!.host}:${running.listen!.port}`,
      auth,
      data: options.dataDir,
      namespace: `${running.namespace ?? "none"}${options.transport?.kind === "nats" && options.transport.nats.namespace === undefined ? " (from the data directory)" : ""}`,
    });
    const signal = await stop.signal;
    log.info("coordinator stopping", { signal });
    await running.close();
    log.info("coordinator stopped");
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
    const log = loggerOf(v, io.stderr);
    const options = workerOptionsOf(v, process.env, (warning) => log.warn(warning));
    const id = options.id;
    const stop = untilSignal();
    const running = await startOrStop(
      () =>
        startWorker({
          ...abortable(options, stop.abort),
          log,
          onNotice: (n) => log.info(n.message, { worker: id, topic: n.topic }),
        }),
      stop.signal,
      (text) => log.info(text, { worker: id }),
    );
    if (!running) return 0;
    if (running.metrics) log.info(metricsLine(`cna worker ${id}`, running.metrics), { worker: id });
    log.info("pulling shards", {
      worker: id,
      namespace: running.namespace ?? "none",
      coordinator: String(v.coordinator),
      ...(running.listen ? { workerServicePort: running.listen.port } : {}),
    });
    const signal = await Promise.race([stop.signal, running.stopped]);
    log.info("worker stopping", { worker: id, signal });
    await running.close();
    return 0;
  },
};
