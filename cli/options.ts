/**
 * Flags and environment → the options of each process kind's composition root (app/): one
 * resolver per kind, read once, before anything connects or starts. Every refusal names its flag
 * or variable (UsageError, SecretRejectedError, InsecureListenError); what a flag leaves out is
 * left to the app's defaults, except where the command's own default differs (documented in its
 * flag's help).
 */
import { hostname } from "node:os";
import { resolve } from "node:path";
import { DEFAULT_MAX_RESULT_BYTES, MAX_RESULT_BYTES_FLAG } from "../coordinator/index.ts";
import { EXECUTION_PROVIDERS } from "../core/index.ts";
import type { SweepLimits } from "../core/index.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../proto/index.ts";
import type { CoordinatorOptions, LocalRunOptions, WorkerOptions } from "../app/index.ts";
import { choice, integerFlag, stringFlag } from "./args.ts";
import type { FlagValues } from "./args.ts";
import { checkListenSecurity, clientOptions, hostPort, natsOptionsOf, serverTls, tokenOf } from "./connect.ts";
import { durationFlag } from "./duration.ts";
import { UsageError } from "./errors.ts";
import { STDOUT } from "./files.ts";
import { sweepLimitsOf } from "./limits.ts";
import { coordinatorMetricsOf, workerMetricsOf } from "./metrics.ts";
import { modelPathCheck, modelsRootsOf } from "./models-root.ts";

/** `cna coordinator`'s listen address when --listen is left out. */
export const DEFAULT_COORDINATOR_LISTEN = "127.0.0.1:7070";

/** `cna coordinator`: everything but the callbacks, which say where its lines go. */
export function coordinatorOptionsOf(
  v: FlagValues,
  env: NodeJS.ProcessEnv,
  warn: (line: string) => void,
): CoordinatorOptions {
  const listen = hostPort("--listen", stringFlag(v, "listen") ?? DEFAULT_COORDINATOR_LISTEN);
  const ackWait = stringFlag(v, "ack-wait");
  const maxDeliver = stringFlag(v, "max-deliver");
  const workerQuiet = stringFlag(v, "worker-quiet");
  const retention = stringFlag(v, "retention");
  const compactBytes = stringFlag(v, "journal-compact-bytes");
  const metrics = coordinatorMetricsOf(v);
  const limits = sweepLimitsOf(v);
  const checkModelPath = modelPathCheck(v);
  const messageBytes = stringFlag(v, "max-message-bytes");
  const resultBytes = stringFlag(v, MAX_RESULT_BYTES_FLAG.slice(2));
  const maxMessageBytes =
    messageBytes === undefined ? DEFAULT_MAX_MESSAGE_BYTES : integerFlag("--max-message-bytes", messageBytes, 1024);
  const maxResultBytes =
    resultBytes === undefined ? DEFAULT_MAX_RESULT_BYTES : integerFlag(MAX_RESULT_BYTES_FLAG, resultBytes, 1);
  // secrets and the listen address are checked before anything connects or starts
  const token = tokenOf(v, env);
  const tls = serverTls(v);
  checkListenSecurity("cna coordinator", listen.host, token !== undefined || tls !== undefined, v, warn);
  return {
    dataDir: resolve(String(v.data)),
    transport: { kind: "nats", nats: natsOptionsOf(v, env) },
    listen,
    limits,
    checkModelPath,
    maxMessageBytes,
    maxResultBytes,
    metrics,
    ...(ackWait !== undefined ? { ackWaitMs: 1000 * integerFlag("--ack-wait", ackWait, 1) } : {}),
    ...(maxDeliver !== undefined ? { maxDeliver: integerFlag("--max-deliver", maxDeliver, 1) } : {}),
    ...(retention !== undefined ? { retentionMs: durationFlag("--retention", retention) } : {}),
    ...(workerQuiet !== undefined ? { workerQuietMs: 1000 * integerFlag("--worker-quiet", workerQuiet, 1) } : {}),
    ...(compactBytes !== undefined
      ? { compactJournalBytes: integerFlag("--journal-compact-bytes", compactBytes, 1024) }
      : {}),
    ...(token !== undefined ? { token } : {}),
    ...(tls !== undefined ? { tls } : {}),
  };
}

/** `cna worker`: everything but the callbacks. */
export function workerOptionsOf(
  v: FlagValues,
  env: NodeJS.ProcessEnv,
  warn: (line: string) => void,
): WorkerOptions & { id: string } {
  const id = stringFlag(v, "id") ?? `${hostname()}-${process.pid}`;
  const concurrency = v.concurrency === undefined ? undefined : integerFlag("--concurrency", String(v.concurrency), 1);
  const threads = v.threads === undefined ? undefined : integerFlag("--threads", String(v.threads), 1);
  const pullBatch = v["pull-batch"] === undefined ? undefined : integerFlag("--pull-batch", String(v["pull-batch"]), 1);
  const provider = v.provider === undefined ? undefined : choice("--provider", String(v.provider), EXECUTION_PROVIDERS);
  const budget = v["model-budget"] === undefined ? undefined : Number(v["model-budget"]);
  if (budget !== undefined && !(budget > 0))
    throw new UsageError(
      "--model-budget",
      `--model-budget must be a positive number of GiB (got "${String(v["model-budget"])}")`,
    );
  const coordinator = String(v.coordinator);
  hostPort("--coordinator", coordinator);
  const metrics = workerMetricsOf(v);
  const checkModelPath = modelPathCheck(v);
  const listenText = stringFlag(v, "listen");
  const listen = listenText === undefined ? null : hostPort("--listen", listenText);
  const token = tokenOf(v, env);
  const tls = serverTls(v);
  if (listen) checkListenSecurity(`cna worker ${id}`, listen.host, token !== undefined || tls !== undefined, v, warn);
  const nats = natsOptionsOf(v, env);
  return {
    id,
    checkModelPath,
    modelsRoots: modelsRootsOf(v),
    metrics,
    listen,
    transport: { kind: "nats", nats, coordinator, client: clientOptions(v, token) },
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(pullBatch !== undefined ? { pullBatch } : {}),
    ...(provider !== undefined ? { provider } : {}),
    ...(budget !== undefined ? { modelBudgetBytes: budget * 2 ** 30 } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(tls !== undefined ? { tls } : {}),
  };
}

/** `cna run` and `cna demo`: the command's own choices, and the local run's options but the sweep and its directory. */
export interface RunCommandOptions {
  /** undefined: cna-out/<the sweep's name> */
  outDir: string | undefined;
  quiet: boolean;
  /** the bounds the sweep is read and planned within (a coordinator's, each raised by its flag) */
  limits: SweepLimits;
  /** --nats, for the messages; undefined: the in-process transport */
  natsUrl: string | undefined;
  local: Omit<LocalRunOptions, "sweep" | "dataDir">;
}

export function runOptionsOf(v: FlagValues, env: NodeJS.ProcessEnv): RunCommandOptions {
  const workers = v.workers === undefined ? undefined : integerFlag("--workers", String(v.workers), 1);
  const threads = v.threads === undefined ? undefined : integerFlag("--threads", String(v.threads), 1);
  const limits = sweepLimitsOf(v);
  const provider = v.provider === undefined ? undefined : choice("--provider", String(v.provider), EXECUTION_PROVIDERS);
  const natsUrl = stringFlag(v, "nats");
  // the token only matters to a run through NATS, whose coordinator serves gRPC
  const token = natsUrl === undefined ? undefined : tokenOf(v, env);
  const outDir = stringFlag(v, "out");
  if (outDir === STDOUT)
    throw new UsageError(
      "--out",
      "--out is a directory (rankings.json, provenance.json, report.html and the state a rerun resumes from), " +
        "so it cannot be - (stdout); the rankings' tables are printed on stdout, and " +
        "cna report --rankings DIR/rankings.json -o - prints the report",
    );
  return {
    outDir,
    quiet: v.quiet === true,
    limits,
    natsUrl,
    local: {
      limits,
      fresh: v.fresh === true,
      ...(workers !== undefined ? { workers } : {}),
      ...(threads !== undefined ? { threads } : {}),
      ...(provider !== undefined ? { provider } : {}),
      ...(natsUrl !== undefined
        ? { transport: { kind: "nats", nats: natsOptionsOf(v, env), ...(token !== undefined ? { token } : {}) } }
        : {}),
    },
  };
}
