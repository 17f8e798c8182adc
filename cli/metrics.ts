/**
 * `--metrics HOST:PORT` for `cna coordinator` and `cna worker` (default off), and the
 * coordinator's `--sweep-deadline HOURS`: flags read once here, into the metrics options of the
 * process's composition root (app/).
 */
import { DEFAULT_SWEEP_GRACE_MS } from "../coordinator/index.ts";
import type { HostPort } from "../app/index.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import { stringFlag } from "./args.ts";
import { hostPort } from "./connect.ts";
import { durationFlag } from "./duration.ts";
import { UsageError } from "./errors.ts";

const METRICS_FLAG: FlagSpec = {
  name: "metrics",
  value: "HOST:PORT",
  help: "serve Prometheus metrics on http://HOST:PORT/metrics (default off; port 0 picks one)",
};

export const COORDINATOR_METRICS_FLAGS: readonly FlagSpec[] = [
  METRICS_FLAG,
  {
    name: "sweep-deadline",
    value: "HOURS",
    help: "with --metrics: each sweep is due this many hours after it was submitted (exported for the ETA-past-deadline alert; default none)",
  },
  {
    name: "metrics-sweep-grace",
    value: "DURATION",
    help: `with --metrics: a finished sweep's series are dropped this long after it finished, e.g. 90s, 10m, 1h (default ${DEFAULT_SWEEP_GRACE_MS / 60_000}m)`,
  },
];

export const WORKER_METRICS_FLAGS: readonly FlagSpec[] = [METRICS_FLAG];

/** null without --metrics. */
export function coordinatorMetricsOf(
  v: FlagValues,
): { listen: HostPort; sweepDeadlineHours?: number; sweepGraceMs?: number } | null {
  const text = stringFlag(v, "sweep-deadline");
  const deadlineHours = text === undefined ? undefined : Number(text);
  if (deadlineHours !== undefined && !(Number.isFinite(deadlineHours) && deadlineHours > 0)) {
    throw new UsageError("--sweep-deadline", `--sweep-deadline must be a positive number of hours (got "${text}")`);
  }
  const graceText = stringFlag(v, "metrics-sweep-grace");
  const sweepGraceMs = graceText === undefined ? undefined : durationFlag("--metrics-sweep-grace", graceText);
  const listen = metricsAddress(v);
  if (listen === null) {
    if (deadlineHours !== undefined)
      throw new UsageError("--sweep-deadline", "--sweep-deadline needs --metrics (it is only exported as a metric)");
    if (sweepGraceMs !== undefined)
      throw new UsageError("--metrics-sweep-grace", "--metrics-sweep-grace needs --metrics");
    return null;
  }
  return {
    listen,
    ...(deadlineHours !== undefined ? { sweepDeadlineHours: deadlineHours } : {}),
    ...(sweepGraceMs !== undefined ? { sweepGraceMs } : {}),
  };
}

/** null without --metrics. */
export function workerMetricsOf(v: FlagValues): { listen: HostPort } | null {
  const listen = metricsAddress(v);
  return listen === null ? null : { listen };
}

/** Where a started /metrics endpoint is, for the log. */
export function metricsLine(who: string, at: HostPort): string {
  return `${who}: metrics on http://${at.host.includes(":") ? `[${at.host}]` : at.host}:${at.port}/metrics`;
}

function metricsAddress(v: FlagValues): HostPort | null {
  const text = stringFlag(v, "metrics");
  return text === undefined ? null : hostPort("--metrics", text);
}
