/**
 * How a coordinator or worker reaches NATS JetStream, and the connect that waits for a server
 * started after it. Secrets arrive here as values: reading them from files or the environment
 * is the caller's edge (the CLI's resolver).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { SpecError, describeValue, errorInfo } from "../core/index.ts";
import type { ShardTask } from "../core/index.ts";
import { JetStreamShardQueue } from "../transport/index.ts";
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
    ...(o.abort !== undefined ? { abort: o.abort } : {}),
  };
}

/**
 * Connects to NATS, trying again with backoff (0.5 s doubling to 5 s) while the server cannot be
 * reached, each attempt told as a notice, for `connectTimeoutMs`: a worker or coordinator
 * started before its NATS server waits for it instead of exiting. Other failures (refused
 * credentials, a misconfigured stream) are final at once.
 */
export async function openShardQueue(
  nats: ResolvedNatsOptions,
  extra: Partial<JetStreamOptions<ShardTask>>,
  notice: (n: Notice) => void,
): Promise<JetStreamShardQueue<ShardTask>> {
  const deadline = Date.now() + nats.connectTimeoutMs;
  for (let attempt = 1, delayMs = 500; ; attempt++, delayMs = Math.min(5_000, delayMs * 2)) {
    if (nats.abort?.aborted) throw new StartAbortedError(`stopped while trying to reach NATS (attempt ${attempt})`);
    try {
      return await JetStreamShardQueue.create<ShardTask>({
        servers: nats.servers,
        ...(nats.user !== undefined ? { user: nats.user, pass: nats.pass ?? "" } : {}),
        ...(nats.credsFile !== undefined ? { credsFile: nats.credsFile } : {}),
        subjectOf: (t) => ({ sweep: t.sweepId, model: t.cell.model }),
        ...extra,
      });
    } catch (err) {
      const { code, retryable, message } = errorInfo(err);
      if (!retryable || Date.now() + delayMs > deadline) throw err;
      notice({
        topic: "nats",
        message: `NATS not reachable (attempt ${attempt}: ${code}: ${message}); trying again in ${(delayMs / 1000).toFixed(1)} s`,
      });
      await sleep(delayMs, undefined, nats.abort ? { signal: nats.abort } : {}).catch(() => undefined);
    }
  }
}
