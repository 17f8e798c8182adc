/**
 * The soak benchmark: one large sweep (100 000 shards by default) through the distributed
 * control plane — a Coordinator publishing to JetStream (nats-server) and serving gRPC, N real
 * ShardWorkers in a child process whose stage costs nothing (bench/capacity-workers.ts) — then
 * the coordinator restarted on its data directory. One JSON object on stdout:
 *
 *   - at 10 %, 50 % and 100 % of the shards stored: the coordinator's RSS and heap, the data
 *     directory's size (journal, snapshot, results), the recent shards/s;
 *   - shards/s over time (one figure per 5 s);
 *   - restart to ready at the end: JetStream connect, replay (Coordinator.start), gRPC server up;
 *   - the size of a SweepView as JSON and of a WatchSweep update on the wire;
 *   - the targets: RSS growth 10 %→100 % ≤ 100 MB, restart ≤ 10 s, throughput at 100 % within
 *     20 % of throughput at 10 %.
 *
 * The coordinator runs in this process (its RSS is this process's, the nats client included);
 * the workers have their own, as in a deployment.
 *
 * @example
 * ```sh
 * npm run bench -- soak                    # 100 000 shards, 4 workers: a few minutes
 * npm run bench -- soak --shards 20000     # for iterating
 * ```
 */
import { execFile, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ShardTask } from "../core/index.ts";
import { Coordinator, startSweepServer } from "../coordinator/index.ts";
import type { SweepServer, SweepView } from "../coordinator/index.ts";
import { SweepUpdate, createSweepClient } from "../proto/index.ts";
import { JetStreamShardQueue } from "../transport/index.ts";
import { digestPath } from "../test/helpers/digest.ts";
import { startNats } from "../test/helpers/nats.ts";
import { parseSoakArgs, SOAK_USAGE } from "./soak-options.ts";
import type { SoakBenchOptions } from "./soak-options.ts";
import { log, machineInfo, round } from "./timing.ts";

const WORKERS_SCRIPT = new URL("./capacity-workers.ts", import.meta.url).pathname;
const CELLS = 4;
const MIB = 1024 * 1024;
/** the window of the rate at a checkpoint, and of the series */
const RATE_WINDOW_MS = 5_000;
const TARGETS = { rssGrowthMiB: 100, restartSeconds: 10, throughputDrop: 0.2 };

interface Checkpoint {
  shardsStored: number;
  seconds: number;
  rssMiB: number;
  heapUsedMiB: number;
  dataDir: { totalMiB: number; journalMiB: number; snapshotMiB: number; journalEpoch: number };
  /** over the RATE_WINDOW_MS before the checkpoint */
  shardsPerSecond: number;
}

interface SoakResult {
  benchmark: "soak";
  machine: ReturnType<typeof machineInfo>;
  loadAverage: { start: string; end: string };
  options: Omit<SoakBenchOptions, "help">;
  checkpoints: Checkpoint[];
  /** [seconds since submit, shards/s over the 5 s before] */
  shardsPerSecondSeries: Array<[number, number]>;
  sweepSeconds: number;
  meanShardsPerSecond: number;
  restart: { connectMs: number; replayMs: number; serverMs: number; readySeconds: number; shardsStored: number };
  view: { jsonBytes: number; watchUpdateBytes: number; quarantinedListed: number };
  targets: {
    rssGrowthMiB: { limit: number; value: number; met: boolean };
    restartSeconds: { limit: number; value: number; met: boolean };
    throughputAtEndVsTenPercent: { limit: number; value: number; met: boolean };
  };
  totalSeconds: number;
}

function soakYaml(shards: number): string {
  return `name: soak
models:
${Array.from({ length: CELLS }, (_, i) => `  - { id: noop-${i}, path: /nonexistent/noop-${i} }`).join("\n")}
operators: ["+"]
digits: [3]
cases: { sample: ${Math.ceil(shards / CELLS)} }
stages: [head-ablation]
shard: { pairs: 1 }
`;
}

const sh = promisify(execFile);

/** Bytes the directory takes on disk (du, in its own process: a walk of 100 000 files here would stall the coordinator). */
async function diskBytes(dir: string): Promise<number> {
  // a blob's temp file renamed while du walks is "not found" (exit 1): the total is still printed
  const stdout = await sh("du", ["-sB1", dir]).then(
    (r) => r.stdout,
    (err: { stdout?: string }) => err.stdout ?? "",
  );
  const bytes = Number(stdout.split("\t")[0]);
  if (stdout === "" || !Number.isFinite(bytes)) throw new Error(`du -sB1 ${dir} printed no total`);
  return bytes;
}

const fileMiB = (path: string): number => (existsSync(path) ? statSync(path).size / MIB : 0);

interface Started {
  coordinator: Coordinator;
  queue: JetStreamShardQueue<ShardTask>;
  server: SweepServer;
  timings: { connectMs: number; replayMs: number; serverMs: number };
}

async function startControlPlane(
  natsUrl: string,
  js: { stream: string; subjectPrefix: string },
  dataDir: string,
  o: SoakBenchOptions,
): Promise<Started> {
  let coordinator: Coordinator | undefined;
  const t0 = performance.now();
  const queue = await JetStreamShardQueue.create<ShardTask>({
    servers: natsUrl,
    ...js,
    subjectOf: (t: ShardTask) => ({ sweep: t.sweepId, model: t.cell.model }),
    ackWaitMs: 30_000,
    maxDeliver: 5,
    onDead: (id, reason) => coordinator?.shardDead(id, reason),
  });
  const t1 = performance.now();
  coordinator = new Coordinator({
    dataDir,
    queue,
    digestModel: digestPath,
    limits: { maxShards: Math.max(250_000, o.shards) },
    compactJournalBytes: o.compactJournalBytes,
  });
  await coordinator.start();
  const t2 = performance.now();
  const server = await startSweepServer({ backend: coordinator, host: "127.0.0.1", port: 0 });
  const t3 = performance.now();
  return { coordinator, queue, server, timings: { connectMs: t1 - t0, replayMs: t2 - t1, serverMs: t3 - t2 } };
}

async function stopControlPlane(s: Started): Promise<void> {
  await s.server.close();
  await s.queue.close();
  s.coordinator.close();
}

/** One WatchSweep update as it goes over the wire, and its size. */
async function watchUpdateBytes(address: string, id: string): Promise<number> {
  const client = createSweepClient(address, {});
  try {
    return await new Promise<number>((resolve, reject) => {
      const call = client.watchSweep({ id });
      call.once("data", (u: SweepUpdate) => {
        resolve(SweepUpdate.encode(u).finish().length);
        call.cancel();
      });
      call.on("error", (err: Error & { code?: number }) => (err.code === 1 ? undefined : reject(err)));
    });
  } finally {
    client.close();
  }
}

export async function runSoakBench(argv: readonly string[]): Promise<number> {
  const o = parseSoakArgs(argv);
  if (o.help) {
    process.stderr.write(`${SOAK_USAGE}\n`);
    return 0;
  }
  const t0 = performance.now();
  const loadStart = readLoad();
  const root = mkdtempSync(join(tmpdir(), "cna-bench-soak-"));
  const dataDir = join(root, "data");
  await using nats = await startNats();
  const tag = randomBytes(4).toString("hex");
  const js = { stream: `BENCH_SOAK_${tag}`, subjectPrefix: `benchsoak${tag}.shards` };
  try {
    let cp = await startControlPlane(nats.url, js, dataDir, o);
    const workers = fork(
      WORKERS_SCRIPT,
      [nats.url, js.stream, js.subjectPrefix, `127.0.0.1:${cp.server.port}`, String(o.workers)],
      { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] },
    );
    const exited = new Promise<number | null>((resolve) => workers.once("exit", resolve));
    let sweep: { checkpoints: Checkpoint[]; series: Array<[number, number]>; seconds: number; id: string };
    try {
      await Promise.race([
        new Promise((resolve) => workers.once("message", resolve)),
        exited.then((code) => Promise.reject(new Error(`soak workers exited (${code}) before they were ready`))),
      ]);
      sweep = await runSweep(cp.coordinator, dataDir, o);
    } finally {
      workers.kill("SIGTERM");
      await exited;
    }
    const finalView = cp.coordinator.get(sweep.id);
    const jsonBytes = Buffer.byteLength(JSON.stringify(finalView));
    const wireBytes = await watchUpdateBytes(`127.0.0.1:${cp.server.port}`, sweep.id);
    await stopControlPlane(cp);

    log("soak: restarting the coordinator on its data directory");
    const r0 = performance.now();
    cp = await startControlPlane(nats.url, js, dataDir, o);
    const readySeconds = (performance.now() - r0) / 1000;
    const again = cp.coordinator.get(sweep.id);
    if (again.state !== "SUCCEEDED" || again.shardsStored !== finalView.shardsStored)
      throw new Error(`after the restart the sweep is ${again.state} with ${again.shardsStored} shards stored`);
    await stopControlPlane(cp);

    const first = sweep.checkpoints[0]!;
    const last = sweep.checkpoints.at(-1)!;
    const growth = last.rssMiB - first.rssMiB;
    const ratio = last.shardsPerSecond / first.shardsPerSecond;
    const out: SoakResult = {
      benchmark: "soak",
      machine: machineInfo(),
      loadAverage: { start: loadStart, end: readLoad() },
      options: { shards: o.shards, workers: o.workers, compactJournalBytes: o.compactJournalBytes },
      checkpoints: sweep.checkpoints,
      shardsPerSecondSeries: sweep.series,
      sweepSeconds: round(sweep.seconds),
      meanShardsPerSecond: round(finalView.shardsStored / sweep.seconds),
      restart: {
        connectMs: round(cp.timings.connectMs),
        replayMs: round(cp.timings.replayMs),
        serverMs: round(cp.timings.serverMs),
        readySeconds: round(readySeconds),
        shardsStored: again.shardsStored,
      },
      view: { jsonBytes, watchUpdateBytes: wireBytes, quarantinedListed: finalView.quarantined.length },
      targets: {
        rssGrowthMiB: { limit: TARGETS.rssGrowthMiB, value: round(growth), met: growth <= TARGETS.rssGrowthMiB },
        restartSeconds: {
          limit: TARGETS.restartSeconds,
          value: round(readySeconds),
          met: readySeconds <= TARGETS.restartSeconds,
        },
        throughputAtEndVsTenPercent: {
          limit: 1 - TARGETS.throughputDrop,
          value: round(ratio),
          met: ratio >= 1 - TARGETS.throughputDrop,
        },
      },
      totalSeconds: round((performance.now() - t0) / 1000),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Submits the sweep and follows it to its end, taking the checkpoints. */
async function runSweep(
  coordinator: Coordinator,
  dataDir: string,
  o: SoakBenchOptions,
): Promise<{ checkpoints: Checkpoint[]; series: Array<[number, number]>; seconds: number; id: string }> {
  const t0 = performance.now();
  const marks = [0.1, 0.5, 1].map((f) => Math.max(1, Math.floor(f * Math.ceil(o.shards / CELLS) * CELLS)));
  const checkpoints: Checkpoint[] = [];
  const pending: Array<Promise<void>> = [];
  let taken = 0;
  /** [ms since submit, shards stored], one per view (at most one per turn of the event loop) */
  const samples: Array<[number, number]> = [[0, 0]];
  const rateAt = (ms: number, stored: number): number => {
    let i = samples.length - 1;
    while (i > 0 && samples[i]![0] > ms - RATE_WINDOW_MS) i--;
    const [t, n] = samples[i]!;
    return ms > t ? ((stored - n) * 1000) / (ms - t) : 0;
  };
  const submitted = coordinator.submit(soakYaml(o.shards), "soak.yaml");
  let failed: Error | undefined;
  submitted.catch((err: unknown) => (failed = err instanceof Error ? err : new Error(String(err))));
  // the sweep is listed as soon as it is planned, while its shards are still being published
  while (coordinator.list().length === 0 && failed === undefined) await new Promise((r) => setTimeout(r, 5));
  if (failed !== undefined) throw failed;
  const id = coordinator.list()[0]!.sweepId;
  const sweepDir = join(dataDir, "sweeps", id);
  const state = await new Promise<SweepView["state"]>((resolve) => {
    const stop = coordinator.watch(id, (v) => {
      const ms = performance.now() - t0;
      // thinned to one per 100 ms, so the samples do not weigh on the RSS measured
      if (ms - samples.at(-1)![0] >= 100 || v.state !== "RUNNING") samples.push([ms, v.shardsStored]);
      for (; taken < marks.length && v.shardsStored >= marks[taken]!; taken++) {
        const mem = process.memoryUsage();
        const cp: Checkpoint = {
          shardsStored: v.shardsStored,
          seconds: round(ms / 1000),
          rssMiB: round(mem.rss / MIB),
          heapUsedMiB: round(mem.heapUsed / MIB),
          dataDir: {
            totalMiB: 0,
            journalMiB: round(fileMiB(join(sweepDir, "journal.jsonl"))),
            snapshotMiB: round(fileMiB(join(sweepDir, "journal.snapshot.jsonl"))),
            journalEpoch: snapshotEpoch(join(sweepDir, "journal.snapshot.jsonl")),
          },
          shardsPerSecond: round(rateAt(ms, v.shardsStored)),
        };
        log(`soak: ${v.shardsStored} stored at ${cp.seconds} s: RSS ${cp.rssMiB} MiB, ${cp.shardsPerSecond} shards/s`);
        pending.push(
          diskBytes(dataDir).then((bytes) => {
            cp.dataDir.totalMiB = round(bytes / MIB);
            checkpoints.push(cp);
          }),
        );
      }
      if (v.state === "RUNNING") return;
      queueMicrotask(() => stop());
      resolve(v.state);
    });
  });
  const seconds = (performance.now() - t0) / 1000;
  await submitted;
  await Promise.all(pending);
  if (state !== "SUCCEEDED") throw new Error(`soak sweep ended ${state}`);
  checkpoints.sort((a, b) => a.shardsStored - b.shardsStored);
  const series: Array<[number, number]> = [];
  const end = samples.at(-1)![0];
  for (let ms = RATE_WINDOW_MS; ms <= end; ms += RATE_WINDOW_MS) {
    const stored = [...samples].reverse().find(([t]) => t <= ms)![1];
    series.push([ms / 1000, round(rateAt(ms, stored))]);
  }
  return { checkpoints, series, seconds, id };
}

function readLoad(): string {
  return readFileSync("/proc/loadavg", "utf8").trim();
}

/** The epoch a snapshot's first line names (0: no snapshot). */
function snapshotEpoch(path: string): number {
  if (!existsSync(path)) return 0;
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(128);
    const n = readSync(fd, head, 0, head.length, 0);
    const line = head.subarray(0, n).toString("utf8").split("\n")[0]!;
    return (JSON.parse(line) as { epoch: number }).epoch;
  } finally {
    closeSync(fd);
  }
}
