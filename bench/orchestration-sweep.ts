/**
 * Part 1 of the orchestration benchmark: the zoo sweep (`cna demo`'s) run embedded (runLocal in this
 * process, 3 worker loops) and distributed (a nats-server, a `cna coordinator` process and 3
 * `cna worker` processes). Distributed wall time runs from SubmitSweep to the first WatchSweep
 * update in SUCCEEDED; process start-up (spawn until every worker pulls) is timed apart. Each
 * repetition starts from a fresh data directory and fresh processes, so neither mode reuses
 * loaded models. The rankings.json of both are compared byte for byte.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { SweepState } from "../proto/index.ts";
import type { Sweep } from "../proto/index.ts";
import { createSweepClient, fromGrpcError } from "../proto/index.ts";
import { planSpecOf, plannedShardCount } from "../coordinator/index.ts";
import { prepareSweep, readSweepFile, resolvedSweepJson, runLocal } from "../app/index.ts";
import type { SweepState as RunState } from "../app/index.ts";
import { digestModels } from "../worker/index.ts";
import { writeJsonAtomic } from "../cli/files.ts";
import { BenchModelMissingError } from "./errors.ts";
import { log, median, round } from "./timing.ts";

const REPO = resolve(import.meta.dirname, "..");
const CLI = join(REPO, "cli", "cna.js");
export const SWEEP_MODELS = ["arith-2l-d64", "arith-3l-d96", "arith-4l-d128"] as const;
const STEP_MS = 120_000;

export interface SweepCompareOptions {
  root: string;
  natsUrl: string;
  reps: number;
  workers: number;
  /** ONNX Runtime threads per operator, both modes */
  threads: number;
}

export interface SweepCompareFigures {
  sweep: {
    models: string[];
    operators: string[];
    digits: string[];
    stages: string[];
    shardPairs: number;
    shards: number;
    workers: number;
    threadsPerOperator: number;
  };
  embeddedSeconds: { median: number; runs: number[] };
  distributedSeconds: { median: number; runs: number[] };
  /** spawn of coordinator + workers until every worker pulls (not in distributedSeconds) */
  distributedStartupSeconds: { median: number; runs: number[] };
  /** distributed / embedded, medians */
  ratio: number;
  overheadPercent: number;
  target: { maxOverheadPercent: number; met: boolean };
  rankingsByteIdentical: boolean;
}

/** The sweep of zoo-quick.yaml (what `cna demo` runs): every zoo model × the four operators × 1D, every other field as there. */
function sweepYaml(name: string): string {
  return `name: ${name}
seed: 0
models:
${SWEEP_MODELS.map((m) => `  - path: ${join(REPO, "models", m)}`).join("\n")}
operators: ["+", "-", "*", "/"]
digits: [1D]
templates: [4]
cases: { sample: 100 }
stages: [head-ablation, cna, verify]
cna: { topK: 100, target: predicted }
verify: { ks: [10, 20, 30, 50, 99], seed: 1234 }
shard: { pairs: 32, maxAttempts: 5 }
execution: { provider: cpu }
`;
}

/** A `cna` child process with its stderr kept (for the port, the ready lines and errors). */
class Proc {
  stderr = "";
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    args: readonly string[],
  ) {
    // no token: an inherited CNA_TOKEN is dropped (an empty one would be refused, not mean "none")
    const { CNA_TOKEN: _token, ...env } = process.env;
    this.child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, env, stdio: ["ignore", "ignore", "pipe"] });
    this.child.stderr!.on("data", (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-20_000)));
    this.exited = new Promise((r) => this.child.once("exit", () => r()));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const late = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    await this.exited;
    clearTimeout(late);
  }
}

async function until<T>(probe: () => T | null | undefined, what: string, logs: () => string): Promise<T> {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const v = probe();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function checkZoo(): void {
  for (const m of SWEEP_MODELS) {
    const dir = join(REPO, "models", m);
    if (!existsSync(join(dir, "model.safetensors")))
      throw new BenchModelMissingError(dir, `${dir}/model.safetensors missing (npm run zoo:train)`);
  }
}

async function embeddedOnce(
  file: string,
  dir: string,
  o: SweepCompareOptions,
): Promise<{ seconds: number; rankings: string }> {
  const sweep = await prepareSweep(readSweepFile(file), { source: file });
  const t0 = performance.now();
  await using run = await runLocal({ sweep, dataDir: join(dir, "state"), workers: o.workers, threads: o.threads });
  // timed to the sweep's end, as the distributed run is (to WatchSweep's SUCCEEDED), so the top
  // tokens the coordinator then adds to the rankings are outside the timing in both modes
  const state = await new Promise<RunState>((resolve) => {
    const stop = run.coordinator.coordinator.watch(run.sweepId, (v) => {
      if (v.state === "RUNNING") return;
      queueMicrotask(() => stop());
      resolve(v.state);
    });
  });
  const seconds = (performance.now() - t0) / 1000;
  if (state !== "SUCCEEDED") throw new Error(`embedded sweep ended ${state}`);
  // as `cna run` writes it
  await writeJsonAtomic(join(dir, "rankings.json"), (await run.finished()).rankings);
  return { seconds, rankings: readFileSync(join(dir, "rankings.json"), "utf8") };
}

/** Submits over gRPC and resolves when a WatchSweep update says SUCCEEDED; returns the seconds from submit. */
async function submitAndWait(address: string, file: string): Promise<{ seconds: number; id: string }> {
  const client = createSweepClient(address, {});
  try {
    const sweepYaml = resolvedSweepJson(readSweepFile(file));
    const t0 = performance.now();
    const submitted = await new Promise<Sweep>((res, rej) =>
      client.submitSweep({ sweepYaml, sourceName: "bench.yaml" }, (err, s) => (err ? rej(fromGrpcError(err)) : res(s))),
    );
    const final = await new Promise<Sweep>((res, rej) => {
      const stream = client.watchSweep({ id: submitted.id });
      stream.on("data", (u: { sweep?: Sweep }) => {
        if (u.sweep && u.sweep.state !== SweepState.SWEEP_STATE_RUNNING) {
          res(u.sweep);
          stream.cancel();
        }
      });
      stream.on("error", (err: Error & { code?: number }) => (err.code === 1 ? undefined : rej(err))); // 1: our own cancel
      stream.on("end", () => rej(new Error(`watch of ${submitted.id} ended before the sweep finished`)));
    });
    const seconds = (performance.now() - t0) / 1000;
    if (final.state !== SweepState.SWEEP_STATE_SUCCEEDED)
      throw new Error(`distributed sweep ${submitted.id} ended in state ${final.state}`);
    return { seconds, id: submitted.id };
  } finally {
    client.close();
  }
}

async function distributedOnce(
  file: string,
  dir: string,
  o: SweepCompareOptions,
): Promise<{ seconds: number; startup: number; rankings: string }> {
  const procs: Proc[] = [];
  const logs = () => procs.map((p) => `--- ${p.name}\n${p.stderr}`).join("\n");
  try {
    const t0 = performance.now();
    const coordinator = new Proc("coordinator", [
      "coordinator",
      "--data",
      join(dir, "data"),
      "--nats",
      o.natsUrl,
      "--listen",
      "127.0.0.1:0",
    ]);
    procs.push(coordinator);
    const port = await until(
      () => /coordinator started listen=[\d.]+:(\d+)/.exec(coordinator.stderr)?.[1],
      "the coordinator to listen",
      logs,
    );
    const address = `127.0.0.1:${port}`;
    const workers = Array.from(
      { length: o.workers },
      (_, i) =>
        new Proc(`worker ${i}`, [
          "worker",
          "--coordinator",
          address,
          "--nats",
          o.natsUrl,
          "--id",
          `bench-w${i}`,
          "--threads",
          String(o.threads),
        ]),
    );
    procs.push(...workers);
    await until(
      () => (workers.every((w) => w.stderr.includes(" worker started ")) ? true : null),
      "the workers to pull",
      logs,
    );
    const startup = (performance.now() - t0) / 1000;
    const { seconds, id } = await submitAndWait(address, file);
    const rankingsFile = join(dir, "data", "sweeps", id, "rankings.json");
    const rankings = await until(
      () => {
        try {
          return readFileSync(rankingsFile, "utf8");
        } catch {
          return null;
        }
      },
      rankingsFile,
      logs,
    );
    return { seconds, startup, rankings };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

export async function compareSweep(o: SweepCompareOptions): Promise<SweepCompareFigures> {
  checkZoo();
  const file = join(o.root, "orchestration-sweep.yaml");
  writeFileSync(file, sweepYaml("bench-orchestration"));
  const spec = readSweepFile(file);
  const plan = planSpecOf(spec, spec.name, await digestModels(spec.models));
  const embedded: number[] = [];
  const distributed: number[] = [];
  const startup: number[] = [];
  const rankings = new Set<string>();
  // interleaved, so both modes see the same background load
  for (let rep = 0; rep < o.reps; rep++) {
    const e = join(o.root, `embedded-${rep}`);
    mkdirSync(e, { recursive: true });
    const er = await embeddedOnce(file, e, o);
    embedded.push(er.seconds);
    rankings.add(er.rankings);
    log(`sweep: embedded rep ${rep + 1}/${o.reps}: ${er.seconds.toFixed(2)} s`);
    const d = join(o.root, `distributed-${rep}`);
    mkdirSync(d, { recursive: true });
    const dr = await distributedOnce(file, d, o);
    distributed.push(dr.seconds);
    startup.push(dr.startup);
    rankings.add(dr.rankings);
    log(
      `sweep: distributed rep ${rep + 1}/${o.reps}: ${dr.seconds.toFixed(2)} s after submit (start-up ${dr.startup.toFixed(2)} s)`,
    );
  }
  const ratio = median(distributed) / median(embedded);
  const overheadPercent = (ratio - 1) * 100;
  return {
    sweep: {
      models: [...SWEEP_MODELS],
      operators: [...spec.operators],
      digits: spec.digits.map((d) => `${d}D`),
      stages: [...spec.stages],
      shardPairs: plan.pairsPerShard,
      shards: plannedShardCount(plan),
      workers: o.workers,
      threadsPerOperator: o.threads,
    },
    embeddedSeconds: { median: round(median(embedded)), runs: embedded.map((s) => round(s)) },
    distributedSeconds: { median: round(median(distributed)), runs: distributed.map((s) => round(s)) },
    distributedStartupSeconds: { median: round(median(startup)), runs: startup.map((s) => round(s)) },
    ratio: round(ratio),
    overheadPercent: round(overheadPercent, 3),
    target: { maxOverheadPercent: 10, met: overheadPercent <= 10 },
    rankingsByteIdentical: rankings.size === 1,
  };
}
