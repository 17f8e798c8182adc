/** Flags of `npm run bench -- orchestration`, parsed and validated once. */
import { BenchUsageError } from "./errors.ts";

export interface OrchestrationBenchOptions {
  /** repetitions of each sweep mode (default 3; medians reported) */
  reps: number;
  /** repetitions of each capacity transport (default 2) */
  capacityReps: number;
  /** shards of the capacity plan (default 2000) */
  shards: number;
  /** embedded worker loops / distributed worker processes (default 3) */
  workers: number;
  /** no-op worker loops of the capacity part (default 4) */
  capacityWorkers: number;
  /** ONNX Runtime threads per operator in both sweep modes (default 1) */
  threads: number;
  /** most shards per ReportShards call of the capacity workers (default 64; 1: one ReportShard per shard, as before batching) */
  reportBatch: number;
  /** messages per JetStream pull request of the capacity workers (default 8; 1: one per pull, as before batching) */
  pullBatch: number;
  only: "sweep" | "capacity" | undefined;
}

export const ORCHESTRATION_USAGE = `Usage: npm run bench -- orchestration [--only sweep|capacity] [--reps N] [--capacity-reps N] [--shards N] [--workers N] [--threads N]

  --only P          run one part: sweep (embedded vs distributed) or capacity (no-op shards/s)
  --reps N          repetitions of each sweep mode (default 3)
  --capacity-reps N repetitions of each capacity transport (default 2)
  --shards N        shards in the capacity plan (default 2000)
  --workers N       sweep workers, both modes (default 3)
  --threads N       ONNX Runtime threads per operator, both modes (default 1)
  --report-batch N  most shards per report call of the capacity workers (default 64; 1: one per shard)
  --pull-batch N    messages per JetStream pull of the capacity workers (default 8; 1: one per pull)`;

const INT_FLAGS = {
  "--reps": "reps",
  "--capacity-reps": "capacityReps",
  "--shards": "shards",
  "--workers": "workers",
  "--threads": "threads",
  "--report-batch": "reportBatch",
  "--pull-batch": "pullBatch",
} as const;

export function parseOrchestrationArgs(argv: readonly string[]): OrchestrationBenchOptions & { help: boolean } {
  const o: OrchestrationBenchOptions & { help: boolean } = {
    reps: 3,
    capacityReps: 2,
    shards: 2000,
    workers: 3,
    capacityWorkers: 4,
    threads: 1,
    reportBatch: 64,
    pullBatch: 8,
    only: undefined,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--help" || flag === "-h") {
      o.help = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new BenchUsageError(flag, `${flag} needs a value\n\n${ORCHESTRATION_USAGE}`);
    if (flag === "--only") {
      if (value !== "sweep" && value !== "capacity")
        throw new BenchUsageError(flag, `--only must be sweep or capacity (got "${value}")`);
      o.only = value;
      continue;
    }
    const field = (INT_FLAGS as Record<string, (typeof INT_FLAGS)[keyof typeof INT_FLAGS] | undefined>)[flag];
    if (field === undefined) throw new BenchUsageError(flag, `unknown flag ${flag}\n\n${ORCHESTRATION_USAGE}`);
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new BenchUsageError(flag, `${flag} must be a positive integer (got "${value}")`);
    o[field] = n;
  }
  return o;
}
