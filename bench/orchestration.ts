/**
 * The orchestration benchmark: (1) the zoo sweep (`cna demo`'s) embedded vs distributed (nats-server,
 * `cna coordinator`, 3 `cna worker` processes), wall time and ratio, rankings compared byte for
 * byte; (2) control-plane capacity, shard completions per second with a no-op stage over the
 * in-process queue and over JetStream + gRPC. One JSON object on stdout, every figure from this run.
 *
 * @example
 * ```sh
 * npm run bench -- orchestration                  # both parts, a few minutes on 2 cores
 * npm run bench -- orchestration --only capacity --shards 4000
 * ```
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorInfo } from "../core/index.ts";
import type { ErrorInfo } from "../core/index.ts";
import { startNats } from "../test/helpers/nats.ts";
import { measureCapacity } from "./orchestration-capacity.ts";
import type { CapacityFigures } from "./orchestration-capacity.ts";
import { parseOrchestrationArgs, ORCHESTRATION_USAGE } from "./orchestration-options.ts";
import { compareSweep } from "./orchestration-sweep.ts";
import type { SweepCompareFigures } from "./orchestration-sweep.ts";
import { log, machineInfo, round } from "./timing.ts";

interface OrchestrationResult {
  benchmark: "orchestration";
  machine: ReturnType<typeof machineInfo>;
  options: Record<string, unknown>;
  sweep: SweepCompareFigures | { error: ErrorInfo } | null;
  capacity: CapacityFigures | { error: ErrorInfo } | null;
  targetMet: { distributedOverhead: boolean | null; controlPlaneCapacity: boolean | null };
  notes: string[];
  totalSeconds: number;
}

export async function runOrchestrationBench(argv: readonly string[]): Promise<number> {
  const o = parseOrchestrationArgs(argv);
  if (o.help) {
    process.stderr.write(`${ORCHESTRATION_USAGE}\n`);
    return 0;
  }
  const t0 = performance.now();
  const root = await mkdtemp(join(tmpdir(), "cna-bench-orch-"));
  await using nats = await startNats();
  const out: OrchestrationResult = {
    benchmark: "orchestration",
    machine: machineInfo(),
    options: {
      reps: o.reps,
      capacityReps: o.capacityReps,
      shards: o.shards,
      workers: o.workers,
      capacityWorkers: o.capacityWorkers,
      threads: o.threads,
      only: o.only ?? "all",
      dataDir: tmpdir(),
    },
    sweep: null,
    capacity: null,
    targetMet: { distributedOverhead: null, controlPlaneCapacity: null },
    notes: [],
    totalSeconds: 0,
  };
  let failed = false;
  try {
    if (o.only !== "capacity") {
      try {
        out.sweep = await compareSweep({
          root,
          natsUrl: nats.url,
          reps: o.reps,
          workers: o.workers,
          threads: o.threads,
        });
        out.targetMet.distributedOverhead = out.sweep.target.met;
      } catch (err) {
        failed = true;
        out.sweep = { error: errorInfo(err) };
        log(`sweep: ${out.sweep.error.code}: ${out.sweep.error.message}`);
      }
    }
    if (o.only !== "sweep") {
      try {
        out.capacity = await measureCapacity({
          root,
          natsUrl: nats.url,
          shards: o.shards,
          workers: o.capacityWorkers,
          reps: o.capacityReps,
          reportBatch: o.reportBatch,
          pullBatch: o.pullBatch,
        });
        out.targetMet.controlPlaneCapacity = out.capacity.target.memoryMet && out.capacity.target.jetstreamGrpcMet;
      } catch (err) {
        failed = true;
        out.capacity = { error: errorInfo(err) };
        log(`capacity: ${out.capacity.error.code}: ${out.capacity.error.message}`);
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  out.notes = notesOf(out);
  out.totalSeconds = round((performance.now() - t0) / 1000);
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return failed ? 1 : 0;
}

/** Where the time goes, from this run's own figures. */
function notesOf(r: OrchestrationResult): string[] {
  const notes: string[] = [];
  if (r.sweep && !("error" in r.sweep)) {
    const s = r.sweep;
    notes.push(
      `sweep: distributed/embedded = ${s.ratio} (${s.overheadPercent} % overhead; target <= 10 %: ${s.target.met ? "met" : "missed"}); process start-up (${s.distributedStartupSeconds.median} s) is outside the distributed time.`,
    );
    if (!s.target.met) {
      notes.push(
        "sweep: the distributed run pays per-worker-process model loads and ONNX session creation after submit (embedded shares one ModelCache across its 3 loops), plus 5 processes (nats-server, coordinator, 3 workers) sharing the cores with the workers' ONNX threads.",
      );
    }
    if (!s.rankingsByteIdentical) notes.push("sweep: rankings.json differed between the modes: a determinism bug.");
  }
  if (r.capacity && !("error" in r.capacity)) {
    const c = r.capacity;
    const b = c.breakdownMs;
    notes.push(
      "capacity: every stored shard is a new file (docs/architecture.md decision 6), and on ext4 a new file's inode is found by skipping the inodes freed in the last 60 s (up to 360 s while their inode-table block is unwritten): " +
        "for minutes after a mass deletion (a test suite's or an earlier run's temp dirs removed) each new blob costs up to ~1.5 ms of kernel CPU instead of ~0.3 ms, and both capacity figures fall with it. storeCpuPerShard shows which case a run met; measure on a file system with no recent mass deletion.",
    );
    notes.push(
      `capacity: storing one shard (result blob written, fsynced and renamed, directory fsynced, 2 journal notes) costs ${b.storePerShard} ms alone and ${b.storePerShardConcurrent} ms with ${c.plan.workers} in flight (group commit), i.e. at most ${c.storeBoundShardsPerSecond} shards/s from the store, and ${b.storeCpuPerShard} ms of CPU per shard (mostly the kernel creating the blob's file), which the other processes do not get; one fsynced journal append ${b.fsync} ms; JSON encode+decode ${b.jsonPerShard} ms; SweepRun.status() at ${c.plan.shards} shards ${b.statusAtPlanSize} ms (once per report).`,
    );
    const memMs = 1000 / c.memory.shardsPerSecond.median;
    const jsMs = 1000 / c.jetstreamGrpc.shardsPerSecond.median;
    notes.push(
      `capacity: ${memMs.toFixed(3)} ms/shard in memory, ${jsMs.toFixed(3)} ms/shard over JetStream + gRPC with the workers in their own process (+${(jsMs - memMs).toFixed(3)} ms: publish, pull and ack round trips to nats-server and the report calls, with ${c.plan.pullBatch} shard(s) per pull request and up to ${c.plan.reportBatch} per ReportShards call (--pull-batch, --report-batch; 1 and 1 measure the per-shard paths), with nats-server, the coordinator and the workers sharing the machine's ${r.machine.cpus} cores).`,
    );
    if (!c.target.memoryMet || !c.target.jetstreamGrpcMet)
      notes.push(
        `capacity: target ${c.target.minShardsPerSecond}/s missed (${[!c.target.memoryMet && "memory", !c.target.jetstreamGrpcMet && "jetstream-grpc"].filter(Boolean).join(", ")}); see the breakdown above for the dominant cost.`,
      );
  }
  return notes;
}
