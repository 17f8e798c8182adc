/**
 * `cna run SWEEP.yaml` and `cna demo`: a whole sweep in this process (embedded mode). Writes
 * OUT/rankings.json (a function of the sweep file and the models only), OUT/provenance.json
 * (timings, retries, versions), OUT/report.html (report/, from those two) and keeps the
 * coordinator's data directory in OUT/state, so running the same command again resumes instead
 * of starting over.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import * as ort from "onnxruntime-node";
import { EXECUTION_PROVIDERS, RESULT_FORMAT_VERSION, SpecError, checkHeadFits, parseSweep } from "../core/index.ts";
import type { ModelDigest, SweepLimits, SweepSpec } from "../core/index.ts";
import { checkCellLimit, checkShardLimit, modelChanged, planSpecOf, readJournal } from "../coordinator/index.ts";
import type { PlanSpec, SweepStatus } from "../coordinator/index.ts";
import { digestCheckpoint, readModelHeads } from "../worker/index.ts";
import { choice, HELP_FLAG, integerFlag, parseFlags, stringFlag } from "./args.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import type { CliIo, Command } from "./command.ts";
import { AUTH_FLAGS, NATS_FLAGS } from "./connect.ts";
import { SWEEP_LIMIT_FLAGS, sweepLimitsOf } from "./limits.ts";
import { runEmbedded } from "./embedded.ts";
import type { WorkerActivity } from "./embedded.ts";
import { RateTracker, SweepProgress, sweepProgressLine } from "./sweep-progress.ts";
import { runThroughNats } from "./run-nats.ts";
import { writeJsonAtomic } from "./files.ts";
import { formatRankings } from "./tables.ts";
import { writeReport } from "./report.ts";
import type { ReportProvenance } from "../report/index.ts";
import { withTopTokens } from "./top-tokens.ts";
import { buildInfo } from "./version.ts";

const REPO = resolve(import.meta.dirname, "..");
export const DEMO_SWEEP = join(REPO, "examples", "zoo-quick.yaml");

const COMMON_FLAGS: readonly FlagSpec[] = [
  { name: "out", value: "DIR", help: "where rankings.json, provenance.json, report.html and the sweep's state go (default cna-out/NAME)" },
  { name: "workers", value: "N", help: "worker loops in this process (default 2)" },
  { name: "provider", value: "NAME", help: "execution provider: cpu or cuda (default: the sweep file's)" },
  { name: "threads", value: "N", help: "ONNX Runtime threads per operator (default: one per core)" },
  { name: "quiet", short: "q", help: "no progress or tables on stderr/stdout (errors still print)" },
  { name: "fresh", help: "discard the sweep state in --out and start over (needed when a model's files changed since)" },
  HELP_FLAG,
];

const RUN_FLAGS: readonly FlagSpec[] = [
  ...COMMON_FLAGS.slice(0, -1),
  ...NATS_FLAGS.map((f) => (f.name === "nats" ? { ...f, help: "run through this NATS server (JetStream) and gRPC instead of in-process queues" } : f)),
  AUTH_FLAGS[0]!,
  // a coordinator's bounds: a sweep past them is more often a slip (every 3D pair, one per shard) than a plan
  ...SWEEP_LIMIT_FLAGS,
  HELP_FLAG,
];

export const runCommand: Command = {
  name: "run",
  summary: "run a sweep file here: coordinator and workers in this process",
  synopsis: "run SWEEP.yaml [--out DIR] [--workers N] [--provider cpu|cuda]",
  flags: RUN_FLAGS,
  notes: "Running the same command again on the same --out resumes: stored shards are not recomputed.\nWith --nats the shards go through JetStream and the results through gRPC, as on a cluster.\nExample:\n  cna run examples/zoo-quick.yaml --out cna-out/zoo",
  run: async (argv, io) => {
    const values = parseFlags(RUN_FLAGS, argv, { positionals: ["SWEEP.yaml"] });
    return runSweepFile(String(values["SWEEP.yaml"]), values, io);
  },
};

export const demoCommand: Command = {
  name: "demo",
  summary: "sweep the bundled model zoo and print the top heads and neurons of every cell",
  synopsis: "demo [--out DIR] [--workers N]",
  flags: COMMON_FLAGS,
  notes: `Runs ${basename(DEMO_SWEEP)} (examples/) over every model in models/ (five: three GPT-2, a Llama and a Qwen2) x 4 operators x 1-digit operands,\nhead ablation -> CNA with each cell's top head ablated -> verification.`,
  run: async (argv, io) => runSweepFile(DEMO_SWEEP, parseFlags(COMMON_FLAGS, argv), io),
};

/** A resolved sweep as a sweep file in JSON (YAML's subset): absolute model paths, every field explicit. */
export function resolvedSweepJson(spec: SweepSpec): string {
  return JSON.stringify({
    name: spec.name, seed: spec.seed, models: spec.models.map((m) => ({ id: m.id, path: m.path })),
    operators: spec.operators, digits: spec.digits, templates: spec.templates,
    cases: { sample: spec.cases.pairsPerCell, seed: spec.cases.seed }, stages: spec.stages,
    cna: { topK: spec.cna.topK, target: spec.cna.target, ...(spec.cna.head ? { head: `${spec.cna.head.layer}.${spec.cna.head.head}` } : {}) },
    verify: spec.verify, shard: { pairs: spec.shard.pairsPerShard, maxAttempts: spec.shard.maxAttempts }, execution: spec.execution,
  }, null, 2);
}

/** A sweep file, its model paths resolved against its directory; `limits` bound its text (default DEFAULT_SWEEP_LIMITS). */
export function readSweepFile(path: string, limits?: SweepLimits): SweepSpec {
  const base = dirname(resolve(path));
  const text = readFileSync(path, "utf8");
  const spec = parseSweep(text, {
    fileName: path,
    ...(limits ? { limits } : {}),
    listModelDirs: (root) => {
      const dir = resolve(base, root);
      return existsSync(dir) ? readdirSync(dir).filter((d) => existsSync(join(dir, d, "config.json"))).sort().map((d) => join(root, d)) : [];
    },
  });
  return { ...spec, models: spec.models.map((m) => ({ ...m, path: resolve(base, m.path) })) };
}

/** Every model's digest, a model that cannot be read named by its field in the sweep file. */
async function modelDigests(spec: SweepSpec): Promise<Record<string, ModelDigest>> {
  const out: Record<string, ModelDigest> = {};
  for (const [i, m] of spec.models.entries()) {
    try {
      out[m.id] = await digestCheckpoint(m.path);
    } catch (err) {
      throw new SpecError(`models[${i}].path`, `models[${i}].path ${m.path}: ${(err as Error).message}`, err);
    }
  }
  return out;
}

/**
 * A state directory planned with other model files is not resumed: its results would be the old
 * files' under the new files' name. The error names the files; --fresh starts over.
 */
function checkResumable(stateDir: string, plan: PlanSpec, file: string): void {
  const last = readJournal(stateDir).reverse().find((e) => e.type === "sweep-submitted");
  const before = last?.type === "sweep-submitted" ? (last.spec as Partial<PlanSpec>).models : undefined;
  if (!before) return;
  const err = modelChanged({ ...plan, models: before }, plan.models, file, `in ${stateDir}`);
  if (err.files.length > 0) throw err;
}

async function runSweepFile(file: string, values: FlagValues, io: CliIo): Promise<number> {
  const quiet = values.quiet === true;
  const workers = values.workers === undefined ? 2 : integerFlag("--workers", String(values.workers), 1);
  const threads = values.threads === undefined ? undefined : integerFlag("--threads", String(values.threads), 1);
  // the bounds a coordinator puts on submitted sweeps hold here too, each raised by the same flag
  const limits = sweepLimitsOf(values);
  const spec = readSweepFile(file, limits);
  checkCellLimit(spec, limits, file);
  const provider = values.provider === undefined ? spec.execution.provider : choice("--provider", String(values.provider), EXECUTION_PROVIDERS);
  const out = resolve(stringFlag(values, "out") ?? join("cna-out", spec.name));
  await mkdir(out, { recursive: true });
  const started = new Date();
  const digests = await modelDigests(spec);
  if (spec.cna.head) checkHeadFits(spec, new Map(await Promise.all(spec.models.map(async (m) => [m.id, await readModelHeads(m.path)] as const))));
  const plan = planSpecOf(spec, spec.name, digests);
  checkShardLimit(plan, limits, file);
  const nats = stringFlag(values, "nats");
  const stateDir = join(out, nats ? "state-nats" : "state");
  if (values.fresh === true) await rm(stateDir, { recursive: true, force: true });
  else if (!nats) checkResumable(stateDir, plan, file);
  if (!quiet) io.stderr.write(`cna: sweep ${spec.name}: ${plan.cells.length} cells x ${spec.stages.join(" -> ")}, ${workers} workers, ${provider}${nats ? `, through ${nats}` : ""}; state in ${join(out, "state")}\n`);
  const onResume = (s: SweepStatus) => io.stderr.write(`cna: resuming: ${s.shardsStored}/${s.shardsExpected} shards already done in ${stateDir}\n`);
  const display = new SweepProgress(io.stderr);
  const rate = new RateTracker();
  const onStatus = quiet ? undefined : (s: SweepStatus, w?: WorkerActivity) =>
    display.update({ status: s, ...rate.add(s), ...(w ? { workersActive: w.active, workers: w.workers, shardsInFlight: w.shardsInFlight, failures: w.failures } : {}) });
  // the coordinator of a run through NATS completes its rankings itself, as `cna coordinator` does
  const result = nats
    ? await runThroughNats({ sweepJson: resolvedSweepJson(spec), source: basename(file), dataDir: stateDir, workers, provider, threads, flags: values, limits, fresh: values.fresh === true, onStatus, onResume })
    : await runEmbedded({
      spec: plan, dataDir: stateDir, workers, provider, threads, maxDeliver: spec.shard.maxAttempts, onStatus, onResume,
      onSweepEvent: (e) => {
        if (e.type === "corrupt") io.stderr.write(`cna: the stored result of ${e.stage} shard ${e.shardId} (${e.model}) was corrupt; moved aside, computing it again\n`);
      },
    });
  const rankings = nats ? result.rankings : await withTopTokens(result.rankings, spec.models, threads);
  await writeJsonAtomic(join(out, "rankings.json"), rankings);
  const prov = await provenance(file, spec, digests, result.status, started, provider, workers, nats);
  await writeJsonAtomic(join(out, "provenance.json"), prov);
  await writeReport(join(out, "report.html"), rankings, prov, `cna-sweep report: ${spec.name}`);
  display.done();
  if (!quiet) {
    io.stdout.write(`${formatRankings(rankings)}\n\n`);
    io.stderr.write(`${sweepProgressLine({ status: result.status, casesPerSecond: null, etaSeconds: null })}\ncna: sweep ${spec.name} ${result.state.toLowerCase()} in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s; wrote ${join(out, "rankings.json")} and report.html\n`);
    for (const q of result.status.quarantined) io.stderr.write(`cna: quarantined ${q.cell} ${q.stage} shard ${q.shardId}: ${q.reason}\n`);
  }
  return result.state === "SUCCEEDED" ? 0 : 1;
}

async function provenance(file: string, spec: SweepSpec, digests: Record<string, ModelDigest>, status: SweepStatus, started: Date, provider: string, workers: number, nats: string | undefined): Promise<ReportProvenance & { versions: Record<string, string> }> {
  return {
    sweepFile: resolve(file), sweep: readFileSync(file, "utf8"), models: spec.models.map((m) => ({ ...m, sha256: digests[m.id]!.digest })),
    startedAt: started.toISOString(), finishedAt: new Date().toISOString(), workers, provider,
    mode: nats ? `distributed in one process (NATS ${nats})` : "embedded",
    versions: { node: process.version, onnxruntime: ort.env.versions.common, cnaSweep: buildInfo().version, resultFormat: String(RESULT_FORMAT_VERSION), ...(buildInfo().commit ? { commit: buildInfo().commit! } : {}) },
    shards: status.stages, redeliveries: status.redeliveries, duplicates: status.duplicates, nondeterministic: status.nondeterministic, quarantined: status.quarantined,
  };
}
