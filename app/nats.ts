/**
 * How a coordinator or worker reaches NATS JetStream, and the connect that waits for a server
 * started after it. Secrets arrive here as values: reading them from files or the environment
 * is the caller's edge (the CLI's resolver).
 */
import { createHash } from "node:crypto";
import { mkdir, realpath } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { SpecError, describeValue, errorInfo } from "../core/index.ts";
import type { ShardTask } from "../core/index.ts";
import { JetStreamShardQueue, checkNamespace, namespaceNames } from "../transport/index.ts";
import type { JetStreamOptions } from "../transport/index.ts";
import { StartAbortedError } from "./errors.ts";
import type { Notice } from "./options.ts";

export interface NatsOptions {
  /** server URL(s) with JetStream, e.g. `nats://127.0.0.1:4222` (required) */
  servers: string | readonly string[];
  /** user and password (the password "" when only the user is given) */
  user?: string;
  pass?: string;
  /** a NATS credentials file (.creds) */
  credsFile?: string;
  /** keep trying to reach the server at start-up this long, with backoff (default 60 000; 0: try once) */
  connectTimeoutMs?: number;
  /**
   * the stream, subjects and consumer are this namespace's (see NAMESPACE_PATTERN). A coordinator
   * without one derives it from its data directory (namespaceOfDataDir); a worker without one
   * takes its coordinator's, and one given must equal its coordinator's.
   */
  namespace?: string;
  /** stop trying when this aborts (a SIGTERM during start-up): the start fails with START_ABORTED */
  abort?: AbortSignal;
}

/** Checked, with the connect timeout filled in; still a NatsOptions, so it can be handed on as one. */
export interface ResolvedNatsOptions extends NatsOptions {
  connectTimeoutMs: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 60_000;

export function resolveNatsOptions(field: string, o: NatsOptions): ResolvedNatsOptions {
  const servers = o.servers;
  const list = typeof servers === "string" ? [servers] : Array.isArray(servers) ? servers : [];
  if (list.length === 0 || list.some((s) => typeof s !== "string" || s.trim() === "")) {
    throw new SpecError(
      `${field}.servers`,
      `${field}.servers must name a NATS server (or several), e.g. "nats://127.0.0.1:4222", got ${describeValue(servers)}`,
    );
  }
  const timeout = o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeout) || timeout < 0)
    throw new SpecError(
      `${field}.connectTimeoutMs`,
      `${field}.connectTimeoutMs must be an integer >= 0, got ${describeValue(timeout)}`,
    );
  return {
    servers,
    connectTimeoutMs: timeout,
    ...(o.user !== undefined ? { user: o.user } : {}),
    ...(o.pass !== undefined ? { pass: o.pass } : {}),
    ...(o.credsFile !== undefined ? { credsFile: o.credsFile } : {}),
    ...(o.namespace !== undefined ? { namespace: checkNamespace(`${field}.namespace`, o.namespace) } : {}),
    ...(o.abort !== undefined ? { abort: o.abort } : {}),
  };
}

/**
 * The namespace of a coordinator that was given none: `dir-` and 12 hex digits of the SHA-256 of
 * its data directory's real path (created if missing), so the same directory always gives the
 * same namespace (a restart resumes on the same stream) and two directories on one machine
 * never share one.
 */
export async function namespaceOfDataDir(dataDir: string): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const real = await realpath(dataDir);
  return `dir-${createHash("sha256").update(real).digest("hex").slice(0, 12)}`;
}

/**
 * Connects to NATS (through `namespace`'s stream and consumer), trying again while the server
 * cannot be reached (see retryWhileUnreachable): a worker or coordinator started before its NATS
 * server waits for it instead of exiting. Other failures (refused credentials, a misconfigured
 * stream) are final at once.
 */
export function openShardQueue(
  nats: ResolvedNatsOptions,
  namespace: string,
  extra: Partial<JetStreamOptions<ShardTask>>,
  notice: (n: Notice) => void,
): Promise<JetStreamShardQueue<ShardTask>> {
  return retryWhileUnreachable(
    "NATS",
    nats.connectTimeoutMs,
    notice,
    () =>
      JetStreamShardQueue.create<ShardTask>({
        servers: nats.servers,
        ...(nats.user !== undefined ? { user: nats.user, pass: nats.pass ?? "" } : {}),
        ...(nats.credsFile !== undefined ? { credsFile: nats.credsFile } : {}),
        subjectOf: (t) => ({ sweep: t.sweepId, model: t.cell.model }),
        ...namespaceNames(namespace),
        ...extra,
      }),
    nats.abort,
  );
}

/**
 * Runs `attempt` again with backoff (0.5 s doubling to 5 s) while it fails retryably, each retry
 * told as a notice naming `what`, for `timeoutMs` (0: once); a terminal failure is thrown at once,
 * and an `abort` (a SIGTERM during start-up) ends the wait with START_ABORTED.
 */
export async function retryWhileUnreachable<R>(
  what: string,
  timeoutMs: number,
  notice: (n: Notice) => void,
  attempt: () => Promise<R>,
  abort?: AbortSignal,
): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  for (let n = 1, delayMs = 500; ; n++, delayMs = Math.min(5_000, delayMs * 2)) {
    if (abort?.aborted) throw new StartAbortedError(`stopped while trying to reach ${what} (attempt ${n})`);
    try {
      return await attempt();
    } catch (err) {
      const { code, retryable, message } = errorInfo(err);
      if (!retryable || Date.now() + delayMs > deadline) throw err;
      notice({
        topic: "nats",
        message: `${what} not reachable (attempt ${n}: ${code}: ${message}); trying again in ${(delayMs / 1000).toFixed(1)} s`,
      });
      await sleep(delayMs, undefined, abort ? { signal: abort } : {}).catch(() => undefined);
    }
  }
}
