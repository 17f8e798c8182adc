/**
 * The distributed mode end to end, with real processes: a nats-server, a `cna coordinator`,
 * `cna worker`s and the client commands (`submit`, `watch`, `rankings`), each a child process
 * killed by PID. Every sweep must give rankings byte-identical to `cna run` embedded on the same
 * sweep file — plainly; with workers SIGKILLed while they hold a shard; with the coordinator
 * SIGKILLed and restarted on its data directory and port; with nats-server restarted on its store
 * — and lose no shard. A model the workers cannot read is quarantined with its reason while the
 * other model's cells finish, and `cna run --nats` matches the embedded run too.
 *
 * The sweeps differ only in `name`, which the rankings do not depend on, so one embedded run is
 * the reference for all of them. One shard per cell and stage (shard.pairs 100 = every 1D pair)
 * keeps a shard long enough to be caught in flight; the coordinator's ack wait is 2 s so a
 * killed worker's shard comes back quickly.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Rankings } from "../../core/index.ts";
import { CLI } from "../helpers/cli.ts";
import { ZOO_DIR } from "../helpers/golden.ts";
import { natsPrerequisite, startNats } from "../helpers/nats.ts";
import type { NatsServer } from "../helpers/nats.ts";
import { prerequisite } from "../helpers/prereq.ts";

const MODELS = ["arith-2l-d64", "arith-3l-d96"];
// Upper bounds, not expectations (a sweep here takes seconds): generous because the CI box and a
// developer's laptop may be busy with other work.
const STEP_MS = 120_000;
const SWEEP_MS = 240_000;
const TEST_MS = 420_000;
const POISON = "not-a-model";

const nats = natsPrerequisite();
const zoo = prerequisite("the model zoo", () => {
  const missing = MODELS.filter((m) => !existsSync(join(ZOO_DIR, m, "model.safetensors")));
  return missing.length === 0 ? null : `models/${missing.join(", models/")} missing (npm run zoo:train)`;
});

function sweepYaml(name: string, modelPaths: readonly string[]): string {
  return `name: ${name}
models:
${modelPaths.map((p) => `  - path: ${p}`).join("\n")}
operators: ["+", "-"]
digits: [1D]
stages: [head-ablation, cna, verify]
cna: { topK: 20 }
verify: { ks: [10, 20] }
shard: { pairs: 100 }
`;
}

/** Polls `probe` every 100 ms until it gives a value; throws naming `what` (and the logs) after `timeoutMs`. */
async function until<T>(
  probe: () => T | null | undefined | false,
  what: string,
  timeoutMs: number,
  logs: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== null && value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One `cna` child process with its output kept. */
class Proc {
  stdout = "";
  stderr = "";
  code: number | null = null;
  signal: NodeJS.Signals | null = null;
  private readonly child: ChildProcess;
  private done = false;

  constructor(
    readonly name: string,
    args: readonly string[],
    cwd: string,
  ) {
    // no token: an inherited CNA_TOKEN is dropped (an empty one would be refused, not mean "none")
    const { CNA_TOKEN: _token, ...env } = process.env;
    this.child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.child.on("close", (code, signal) => {
      this.code = code;
      this.signal = signal;
      this.done = true;
    });
  }

  get running(): boolean {
    return !this.done;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running && this.child.pid !== undefined) process.kill(this.child.pid, signal);
  }

  /** Resolves with the exit code once the process has exited and its output is read. */
  exit(timeoutMs: number, logs?: () => string): Promise<number | null> {
    return until(
      () => this.done && { code: this.code },
      `${this.name} to exit`,
      timeoutMs,
      logs ?? (() => this.describe()),
    ).then((r) => r.code);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.kill("SIGTERM");
    try {
      await this.exit(15_000);
    } catch {
      this.kill("SIGKILL");
      await this.exit(5_000);
    }
  }

  describe(): string {
    return `--- ${this.name} (${this.running ? "running" : `exited ${this.signal ?? this.code}`})\n${this.stderr}${this.stdout ? `[stdout]\n${this.stdout.slice(0, 2000)}\n` : ""}`;
  }
}

/** A coordinator and its workers, plus the client commands pointed at it. */
class Fleet {
  readonly procs: Proc[] = [];
  coordinator!: Proc;
  port = 0;
  private workerCount = 0;

  constructor(
    private readonly cwd: string,
    private readonly natsUrl: string,
    readonly dataDir: string,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get workers(): Proc[] {
    return this.procs.filter((p) => p.name.startsWith("worker"));
  }

  /** Starts the coordinator (on a free port the first time, on the same one after) and reads its port. */
  async startCoordinator(): Promise<void> {
    const p = this.spawn("coordinator", [
      "coordinator",
      "--data",
      this.dataDir,
      "--nats",
      this.natsUrl,
      "--listen",
      `127.0.0.1:${this.port}`,
      "--ack-wait",
      "2",
      ...this.roots(),
    ]);
    this.coordinator = p;
    const m = await until(
      () => /coordinator started listen=[\d.]+:(\d+)/.exec(p.stderr),
      "the coordinator to listen",
      STEP_MS,
      () => this.logs(),
    );
    this.port = Number(m[1]);
  }

  startWorker(): Proc {
    this.workerCount++;
    return this.spawn(`worker w${this.workerCount}`, [
      "worker",
      "--coordinator",
      this.address,
      "--nats",
      this.natsUrl,
      "--id",
      `w${this.workerCount}`,
      "--threads",
      "1",
      // shard lines are debug: the test reads which worker ran what
      "-v",
      ...this.roots(),
    ]);
  }

  /** Models come from the zoo and from the test's own directory (the processes run in the latter). */
  private roots(): string[] {
    return ["--models-root", ZOO_DIR, "--models-root", this.cwd];
  }

  /** The coordinator, then `workers` workers, each pulling before this resolves. */
  async start(workers: number): Promise<void> {
    await this.startCoordinator();
    const started = Array.from({ length: workers }, () => this.startWorker());
    await until(
      () => started.every((w) => w.stderr.includes(" worker started ")),
      "the workers to pull",
      STEP_MS,
      () => this.logs(),
    );
  }

  /** Runs a client command against the coordinator to its end. */
  async cli(args: readonly string[], timeoutMs = STEP_MS): Promise<Proc> {
    const p = this.client(args);
    await p.exit(timeoutMs, () => this.logs());
    return p;
  }

  client(args: readonly string[]): Proc {
    return this.spawn(`cna ${args[0]}`, [...args, "--coordinator", this.address]);
  }

  async submit(file: string): Promise<string> {
    const r = await this.cli(["submit", file]);
    expect(r.code, r.describe()).toBe(0);
    return r.stdout.trim();
  }

  /** `cna watch` to its end: its exit code and last status line. */
  async watch(id: string, timeoutMs = SWEEP_MS): Promise<{ code: number | null; last: string; stderr: string }> {
    const w = await this.cli(["watch", id], timeoutMs);
    const lines = w.stderr.split("\n").filter((l) => l.startsWith(id));
    return { code: w.code, last: lines.at(-1) ?? "", stderr: w.stderr };
  }

  async rankingsJson(id: string): Promise<string> {
    const r = await this.cli(["rankings", id, "--format", "json"]);
    expect(r.code, r.describe()).toBe(0);
    return r.stdout;
  }

  /** A running worker whose last line says it started a shard: it holds that shard now (concurrency 1). */
  holder(): { worker: Proc; shard: string } | null {
    for (const w of this.workers) {
      if (!w.running) continue;
      const last = w.stderr.trimEnd().split("\n").at(-1) ?? "";
      const m = / shard started worker=\S+ shard=(\w+) /.exec(last);
      if (m) return { worker: w, shard: m[1]! };
    }
    return null;
  }

  workerLog(): string {
    return this.workers.map((w) => w.stderr).join("");
  }

  logs(): string {
    return this.procs.map((p) => p.describe()).join("\n");
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
  }

  private spawn(name: string, args: readonly string[]): Proc {
    const p = new Proc(name, args, this.cwd);
    this.procs.push(p);
    return p;
  }
}

/** The final status line says every stage of every cell stored, nothing quarantined. */
function expectComplete(last: string, cells: number): void {
  expect(last).toMatch(
    new RegExp(
      `\\[succeeded\\] cells ${cells}/${cells} · head-ablation ${cells}/${cells} · cna ${cells}/${cells} · verify ${cells}/${cells} ·`,
    ),
  );
  expect(last).not.toMatch(/quarantined/);
}

describe.skipIf(nats.skip || zoo.skip)(
  "distributed sweeps (nats-server, cna coordinator, cna worker processes)",
  () => {
    let root: string;
    let broker: NatsServer | undefined;
    let reference: string;
    /** the running test's fleet, stopped after it whatever happened */
    let current: Fleet | undefined;
    let sweeps = 0;
    const modelPaths = MODELS.map((m) => join(ZOO_DIR, m));

    /** A sweep file of the reference sweep under another name, and a fleet with its own data directory. */
    function setUp(name: string, models: readonly string[] = modelPaths): { file: string; fleet: Fleet } {
      const file = join(root, `${name}.yaml`);
      writeFileSync(file, sweepYaml(name, models));
      current = new Fleet(root, broker!.url, join(root, `data-${++sweeps}`));
      return { file, fleet: current };
    }

    beforeAll(async () => {
      nats.assert();
      zoo.assert();
      root = mkdtempSync(join(tmpdir(), "cna-dist-"));
      broker = await startNats();
      writeFileSync(join(root, "reference.yaml"), sweepYaml("reference", modelPaths));
      const embedded = new Proc(
        "cna run (embedded)",
        ["run", "reference.yaml", "--out", "reference", "--workers", "2", "--threads", "1", "--quiet"],
        root,
      );
      try {
        expect(await embedded.exit(SWEEP_MS), embedded.describe()).toBe(0);
      } finally {
        await embedded.stop();
      }
      reference = readFileSync(join(root, "reference", "rankings.json"), "utf8");
      expect((JSON.parse(reference) as Rankings).cells).toHaveLength(4);
    }, TEST_MS);

    afterEach(async () => {
      await current?.stop();
      current = undefined;
    }, 30_000);

    afterAll(async () => {
      await broker?.[Symbol.asyncDispose]();
      if (root) rmSync(root, { recursive: true, force: true });
    }, 30_000);

    it(
      "coordinator + 3 workers: submit, watch (exit 0), rankings byte-identical to cna run",
      async () => {
        const { file, fleet } = setUp("plain");
        await fleet.start(3);
        const id = await fleet.submit(file);
        const watch = await fleet.watch(id);
        expect(watch.code, fleet.logs()).toBe(0);
        expectComplete(watch.last, 4);
        expect(await fleet.rankingsJson(id)).toBe(reference);
        // the work was spread: more than one worker ran shards
        expect(new Set(fleet.workerLog().match(/(?<= DEBUG shard finished worker=)w\d+/g)).size).toBeGreaterThan(1);
        // SIGTERM: the workers drain and the coordinator closes, each exiting 0
        await fleet.stop();
        for (const p of [fleet.coordinator, ...fleet.workers]) expect(p.code, p.describe()).toBe(0);
      },
      TEST_MS,
    );

    it(
      "SIGKILL a worker holding a shard, twice (replacements join): the shards are redelivered, nothing lost",
      async () => {
        const { file, fleet } = setUp("kill-workers");
        await fleet.start(3);
        const id = await fleet.submit(file);
        const killed: string[] = [];
        for (let round = 0; round < 2; round++) {
          const { worker, shard } = await until(
            () => fleet.holder(),
            "a worker holding a shard",
            STEP_MS,
            () => fleet.logs(),
          );
          worker.kill("SIGKILL");
          await worker.exit(10_000);
          expect(worker.signal).toBe("SIGKILL");
          if (!worker.stderr.includes(` shard finished worker=${worker.name.slice("worker ".length)} shard=${shard} `))
            killed.push(shard);
          fleet.startWorker();
        }
        expect(killed.length, "a kill landed while the shard was running").toBeGreaterThan(0);
        const watch = await fleet.watch(id);
        expect(watch.code, fleet.logs()).toBe(0);
        expectComplete(watch.last, 4);
        expect(Number(/(\d+) redeliveries/.exec(watch.last)?.[1] ?? 0), watch.last).toBeGreaterThanOrEqual(1);
        // each shard that died with its worker ran again elsewhere, on a later delivery
        for (const shard of killed)
          expect(fleet.workerLog()).toMatch(new RegExp(` shard started worker=\\S+ shard=${shard} .*attempt=[2-9]`));
        expect(await fleet.rankingsJson(id)).toBe(reference);
      },
      TEST_MS,
    );

    it(
      "SIGKILL the coordinator mid-sweep, restart it on its data dir and port: completes, identical",
      async () => {
        const { file, fleet } = setUp("kill-coordinator");
        await fleet.start(3);
        const id = await fleet.submit(file);
        await until(
          () => / DEBUG shard finished /.test(fleet.workerLog()),
          "a first shard stored",
          STEP_MS,
          () => fleet.logs(),
        );
        const first = fleet.coordinator;
        first.kill("SIGKILL");
        await first.exit(10_000);
        expect(first.signal).toBe("SIGKILL");
        // a worker that finishes a shard now cannot report it: it gives the shard back to retry later
        await until(
          () => / WARN shard failed .* retryable=true /.test(fleet.workerLog()),
          "a report to the dead coordinator to fail as retryable",
          STEP_MS,
          () => fleet.logs(),
        );
        const port = fleet.port;
        await fleet.startCoordinator();
        expect(fleet.port).toBe(port);
        const watch = await fleet.watch(id);
        expect(watch.code, fleet.logs()).toBe(0);
        expectComplete(watch.last, 4);
        expect(await fleet.rankingsJson(id)).toBe(reference);
      },
      TEST_MS,
    );

    it(
      "restart nats-server mid-sweep (same port and store): completes, identical",
      async () => {
        const { file, fleet } = setUp("restart-broker");
        await fleet.start(3);
        const id = await fleet.submit(file);
        await until(
          () => / DEBUG shard finished /.test(fleet.workerLog()),
          "a first shard stored",
          STEP_MS,
          () => fleet.logs(),
        );
        const doneBefore = fleet.workerLog().match(/ DEBUG shard finished /g)!.length;
        await broker!.restart();
        const watch = await fleet.watch(id);
        expect(watch.code, fleet.logs()).toBe(0);
        expectComplete(watch.last, 4);
        expect(doneBefore, "the restart came mid-sweep").toBeLessThan(12);
        expect(await fleet.rankingsJson(id)).toBe(reference);
      },
      TEST_MS,
    );

    it(
      "a model the workers cannot load is quarantined with its reason; the other model's cells finish",
      async () => {
        // the coordinator reads its files (their digest goes into the shard ids); no worker can build it
        const poisonPath = join(root, POISON);
        cpSync(modelPaths[0]!, poisonPath, { recursive: true });
        const config = JSON.parse(readFileSync(join(poisonPath, "config.json"), "utf8")) as Record<string, unknown>;
        writeFileSync(join(poisonPath, "config.json"), JSON.stringify({ ...config, model_type: "no-such-family" }));
        const { file, fleet } = setUp("poison", [modelPaths[1]!, poisonPath]);
        await fleet.start(3);
        // a model the coordinator cannot read at all is refused at submit, naming its field
        writeFileSync(join(root, "absent.yaml"), sweepYaml("absent", [modelPaths[1]!, join(root, "never-created")]));
        const absent = await fleet.cli(["submit", join(root, "absent.yaml")]);
        expect(absent.code).toBe(1);
        expect(absent.stderr).toMatch(/BAD_SPEC: absent\.yaml: models\[1\]\.path \S+never-created: /);
        const id = await fleet.submit(file);
        const watch = await fleet.watch(id);
        expect(watch.code, fleet.logs()).toBe(1);
        expect(watch.last).toMatch(/\[failed\] cells 2\/4 /);
        for (const op of ["+", "-"]) {
          const line = watch.stderr
            .split("\n")
            .find((l) => l.startsWith(`quarantined: ${POISON} ${op} 1D t4 head-ablation shard `));
          expect(line, watch.stderr).toBeDefined();
          expect(line).toMatch(/: UNSUPPORTED_ARCHITECTURE: /);
          expect(line).toContain(poisonPath);
        }
        const partial = JSON.parse(await fleet.rankingsJson(id)) as Rankings;
        const good = (JSON.parse(reference) as Rankings).cells.filter((c) => c.model === MODELS[1]);
        expect(good).toHaveLength(2);
        expect(partial.cells).toEqual(good);
      },
      TEST_MS,
    );

    it(
      "cna run --nats gives rankings byte-identical to the embedded run",
      async () => {
        const { file } = setUp("run-nats");
        const run = new Proc(
          "cna run --nats",
          [
            "run",
            file,
            "--nats",
            broker!.url,
            "--out",
            join(root, "run-nats"),
            "--workers",
            "2",
            "--threads",
            "1",
            "--quiet",
          ],
          root,
        );
        try {
          expect(await run.exit(SWEEP_MS), run.describe()).toBe(0);
        } finally {
          await run.stop();
        }
        expect(readFileSync(join(root, "run-nats", "rankings.json"), "utf8")).toBe(reference);
      },
      TEST_MS,
    );
  },
);
