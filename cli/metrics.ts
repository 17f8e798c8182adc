/**
 * `--metrics HOST:PORT` for `cna coordinator` and `cna worker` (default off), and the
 * coordinator's `--sweep-deadline HOURS`: flags read once here, into the deployable's metrics
 * object and the address its /metrics endpoint binds.
 */
import { CoordinatorMetrics } from "../coordinator/index.ts";
import { WorkerMetrics } from "../worker/index.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import { stringFlag } from "./args.ts";
import type { CliIo } from "./command.ts";
import { hostPort } from "./connect.ts";
import { UsageError } from "./errors.ts";

const METRICS_FLAG: FlagSpec = {
  name: "metrics", value: "HOST:PORT", help: "serve Prometheus metrics on http://HOST:PORT/metrics (default off; port 0 picks one)",
};

export const COORDINATOR_METRICS_FLAGS: readonly FlagSpec[] = [
  METRICS_FLAG,
  {
    name: "sweep-deadline", value: "HOURS",
    help: "with --metrics: each sweep is due this many hours after it was submitted (exported for the ETA-past-deadline alert; default none)",
  },
];

export const WORKER_METRICS_FLAGS: readonly FlagSpec[] = [METRICS_FLAG];

export interface MetricsFlags<M> {
  metrics: M;
  at: { host: string; port: number };
}

/** null without --metrics. */
export function coordinatorMetricsOf(v: FlagValues): MetricsFlags<CoordinatorMetrics> | null {
  const text = stringFlag(v, "sweep-deadline");
  const deadlineHours = text === undefined ? undefined : Number(text);
  if (deadlineHours !== undefined && !(Number.isFinite(deadlineHours) && deadlineHours > 0)) {
    throw new UsageError("--sweep-deadline", `--sweep-deadline must be a positive number of hours (got "${text}")`);
  }
  const at = metricsAddress(v);
  if (at === null) {
    if (deadlineHours !== undefined) throw new UsageError("--sweep-deadline", "--sweep-deadline needs --metrics (it is only exported as a metric)");
    return null;
  }
  return { metrics: new CoordinatorMetrics({ deadlineHours }), at };
}

/** null without --metrics. */
export function workerMetricsOf(v: FlagValues): MetricsFlags<WorkerMetrics> | null {
  const at = metricsAddress(v);
  return at === null ? null : { metrics: new WorkerMetrics(), at };
}

/** Starts the /metrics endpoint and says where it is. */
export async function serveMetricsFor(who: string, m: MetricsFlags<CoordinatorMetrics | WorkerMetrics>, io: CliIo): Promise<{ close(): Promise<void> }> {
  const server = await m.metrics.serveMetrics(m.at);
  io.stderr.write(`${who}: metrics on http://${m.at.host.includes(":") ? `[${m.at.host}]` : m.at.host}:${server.port}/metrics\n`);
  return server;
}

function metricsAddress(v: FlagValues): { host: string; port: number } | null {
  const text = stringFlag(v, "metrics");
  return text === undefined ? null : hostPort("--metrics", text);
}
