/**
 * `cna run SWEEP.yaml` and `cna demo`: a whole sweep in this process (app's runLocal: embedded,
 * or through NATS and gRPC with --nats). Writes
 * OUT/rankings.json (a function of the sweep file and the models only), OUT/provenance.json
 * (timings, retries, versions), OUT/report.html (report/, from those two) and keeps the
 * coordinator's data directory in OUT/state, so running the same command again resumes instead
 * of starting over.
 */
import { readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import * as ort from "onnxruntime-node";
import { RESULT_FORMAT_VERSION } from "../core/index.ts";
import type { ModelDigest, SweepSpec } from "../core/index.ts";
import { buildInfo, packageDir, prepareSweep, readSweepFile, runLocal } from "../app/index.ts";
import type { LocalRunResult, SweepStatus } from "../app/index.ts";
import { cellStages, quarantinedCount } from "../coordinator/index.ts";
import { HELP_FLAG, parseFlags } from "./args.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import type { CliIo, Command } from "./command.ts";
import { AUTH_FLAGS, NATS_FLAGS } from "./connect.ts";
import { LOG_FLAGS, logFlagsGiven, loggerOf } from "./log.ts";
import { SWEEP_LIMIT_FLAGS } from "./limits.ts";
import { runOptionsOf } from "./options.ts";
import { RateTracker, SweepProgress, sweepProgressLine } from "./sweep-progress.ts";
import { prepareOutputDir, writeJsonAtomic } from "./files.ts";
import { nextSteps, summaryTable } from "./run-summary.ts";
import { writeReport } from "./report.ts";
import type { ReportProvenance } from "../report/index.ts";

// from the package folder, not this file's: the compiled copy of this file is one level deeper (dist/cli/)
export const DEMO_SWEEP = join(packageDir(), "examples", "zoo-quick.yaml");

const COMMON_FLAGS: readonly FlagSpec[] = [
  {
    name: "out",
    value: "DIR",
    help: "where rankings.json, provenance.json, report.html and the sweep's state go (default cna-out/NAME)",
  },
  { name: "workers", value: "N", help: "worker loops in this process (default 2)" },
  { name: "provider", value: "NAME", help: "execution provider: cpu or cuda (default: the sweep file's)" },
  { name: "threads", value: "N", help: "ONNX Runtime threads per operator (default: one per core)" },
  { name: "quiet", short: "q", help: "no progress or tables on stderr/stdout (errors still print)" },
  {
    name: "fresh",
    help: "discard the sweep state in --out and start over (needed when a model's files changed since)",
  },
  HELP_FLAG,
];

const RUN_FLAGS: readonly FlagSpec[] = [
  ...COMMON_FLAGS.slice(0, -1),
  ...NATS_FLAGS.map((f) =>
    f.name === "nats"
      ? { ...f, help: "run through this NATS server (JetStream) and gRPC instead of in-process queues" }
      : f,
  ),
  AUTH_FLAGS[0]!,
  // a coordinator's bounds: a sweep past them is more often a slip (every 3D pair, one per shard) than a plan
  ...SWEEP_LIMIT_FLAGS,
  // the coordinator's and workers' lines: with --nats, or when one of these is given
  ...LOG_FLAGS,
  HELP_FLAG,
];

export const runCommand: Command = {
  name: "run",
  summary: "run a sweep file here: coordinator and workers in this process",
  synopsis: "run SWEEP.yaml [--out DIR] [--workers N] [--provider cpu|cuda]",
  flags: RUN_FLAGS,
  notes:
    "Running the same command again on the same --out resumes: stored shards are not recomputed.\nWith --nats the shards go through JetStream and the results through gRPC, as on a cluster.\nExample:\n  cna run examples/zoo-quick.yaml --out cna-out/zoo",
  run: async (argv, io) => {
    const values = parseFlags(RUN_FLAGS, argv, { positionals: ["SWEEP.yaml"] });
    return runSweepFile(String(values["SWEEP.yaml"]), values, io);
  },
};

export const demoCommand: Command = {
  name: "demo",
  summary: "sweep the bundled model zoo and print each cell's top head, top neuron and verification",
  synopsis: "demo [--out DIR] [--workers N]",
  flags: COMMON_FLAGS,
  notes: `Runs ${basename(DEMO_SWEEP)} (examples/) over every model in models/ (five: three GPT-2, a Llama and a Qwen2) x 4 operators x 1-digit operands,\nhead ablation -> CNA with each cell's top head ablated -> verification.`,
  run: async (argv, io) => runSweepFile(DEMO_SWEEP, parseFlags(COMMON_FLAGS, argv), io),
};

async function runSweepFile(file: string, values: FlagValues, io: CliIo): Promise<number> {
  const o = runOptionsOf(values, process.env);
  const started = new Date();
  const sweep = await prepareSweep(readSweepFile(file, o.limits), { source: file, limits: o.limits });
  const spec = sweep.spec;
  const out = resolve(o.outDir ?? join("cna-out", spec.name));
  await prepareOutputDir(out, "--out");
  const stateDir = join(out, o.natsUrl ? "state-nats" : "state");
  // notices clear the redrawn progress line first, so they do not land in the middle of it
  const display = new SweepProgress(io.stderr);
  await using run = await runLocal({
    ...o.local,
    sweep,
    dataDir: stateDir,
    ...(o.natsUrl !== undefined || logFlagsGiven(values) ? { log: loggerOf(values, io.stderr) } : {}),
    onNotice: (n) => {
      display.clear();
      io.stderr.write(n.topic === "engine" ? `${n.message}\n` : `cna: ${n.message}\n`);
    },
    onSweepEvent: (e) => {
      if (e.type !== "corrupt") return;
      display.clear();
      io.stderr.write(
        `cna: the stored result of ${e.stage} shard ${e.shardId} (${e.model}) was corrupt; moved aside, computing it again\n`,
      );
    },
  });
  const { workers, provider } = run.options;
  if (!o.quiet)
    io.stderr.write(
      `cna: sweep ${spec.name}: ${sweep.plan.cells.length} cells x ${cellStages(spec).join(" -> ")}, ${workers} workers, ${provider}${o.natsUrl ? `, through ${o.natsUrl} (namespace ${run.coordinator.namespace ?? "none"})` : ""}; state in ${stateDir}\n`,
    );
  if (run.submitted.shardsStored > 0)
    io.stderr.write(
      `cna: resuming: ${run.submitted.shardsStored}/${run.submitted.shardsExpected} shards already done in ${stateDir}\n`,
    );
  const rate = new RateTracker();
  const ticker = o.quiet
    ? undefined
    : setInterval(() => {
        const s = run.status();
        const w = run.activity();
        display.update({
          status: s,
          ...rate.add(s),
          workersActive: w.active,
          workers: w.workers,
          shardsInFlight: w.shardsInFlight,
          failures: w.failures,
        });
      }, 1000);
  let result: LocalRunResult;
  try {
    result = await run.finished();
  } finally {
    clearInterval(ticker);
  }
  await run.close();
  const { rankings, status, state } = result;
  await writeJsonAtomic(join(out, "rankings.json"), rankings);
  const prov = await provenance(file, spec, sweep.digests, status, state, started, provider, workers, o.natsUrl);
  await writeJsonAtomic(join(out, "provenance.json"), prov);
  await writeReport(join(out, "report.html"), rankings, prov);
  display.done();
  if (!o.quiet) {
    io.stdout.write(`${summaryTable(rankings)}\n\n`);
    io.stderr.write(
      `${sweepProgressLine({ status, casesPerSecond: null, etaSeconds: null })}\ncna: sweep ${spec.name} ${state.toLowerCase()} in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s\n`,
    );
    for (const q of status.quarantined)
      io.stderr.write(`cna: quarantined ${q.cell} ${q.stage} shard ${q.shardId}: ${q.reason}\n`);
    const unlisted = quarantinedCount(status) - status.quarantined.length;
    if (unlisted > 0) io.stderr.write(`cna: and ${unlisted} more quarantined shards (the journal names each)\n`);
    io.stderr.write(`${nextSteps(out, process.cwd()).join("\n")}\n`);
  }
  return state === "SUCCEEDED" ? 0 : 1;
}

async function provenance(
  file: string,
  spec: SweepSpec,
  digests: Record<string, ModelDigest>,
  status: SweepStatus,
  state: SweepStatus["state"],
  started: Date,
  provider: string,
  workers: number,
  nats: string | undefined,
): Promise<ReportProvenance & { versions: Record<string, string> }> {
  return {
    name: spec.name,
    state: state.toLowerCase(),
    cells: { planned: status.cells, done: status.cellsDone, failed: status.cellsFailed },
    sweepFile: resolve(file),
    sweep: readFileSync(file, "utf8"),
    models: spec.models.map((m) => ({ ...m, sha256: digests[m.id]!.digest })),
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    workers,
    provider,
    mode: nats ? `distributed in one process (NATS ${nats})` : "embedded",
    versions: {
      node: process.version,
      onnxruntime: ort.env.versions.common,
      cnaSweep: buildInfo().version,
      resultFormat: String(RESULT_FORMAT_VERSION),
      ...(buildInfo().commit ? { commit: buildInfo().commit! } : {}),
    },
    shards: status.stages,
    redeliveries: status.redeliveries,
    duplicates: status.duplicates,
    nondeterministic: status.nondeterministic,
    quarantined: status.quarantined,
  };
}
