/**
 * A real nats-server for integration and chaos tests: JetStream on, bound to 127.0.0.1 on a
 * free port, file store in a fresh temp dir. `restart()` keeps the port and the store dir, so a
 * test can check what survives a broker restart; `await using` stops it and removes the dir.
 *
 * The server is always the nats-server binary (Debian package `nats-server`, on PATH or at
 * /usr/sbin/nats-server; CNA_NATS_SERVER overrides): it is the broker CI installs, starts in
 * well under a second and can be paused and restarted by PID. There is no container variant
 * (testcontainers and the `nats` image): CNA_TEST_NATS=container has no effect.
 *
 * @example
 * ```ts
 * const nats = natsPrerequisite();
 * it.skipIf(nats.skip)("...", async () => {
 *   nats.assert();
 *   await using server = await startNats();
 *   const nc = await connect({ servers: server.url });
 * });
 * ```
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { prerequisite } from "./prereq.ts";
import type { Prerequisite } from "./prereq.ts";

export interface NatsServer extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** the JetStream store dir; kept across restart(), removed on dispose */
  readonly storeDir: string;
  /** stops the server (SIGTERM, then SIGKILL after 5 s); a no-op when already stopped */
  stop(): Promise<void>;
  /** stops the server if running and starts it again on the same port with the same store */
  restart(): Promise<void>;
  /** freezes the server (SIGSTOP) and waits until it is stopped: connections stay open, nothing is answered */
  pause(): Promise<void>;
  /** thaws a paused server (SIGCONT) */
  resume(): void;
}

export interface StartNatsOptions {
  /** how long to wait for "Server is ready" (default 10 s) */
  readyTimeoutMs?: number;
}

const INSTALL_HINT = "apt-get install nats-server, or set CNA_NATS_SERVER to the binary";

/** The nats-server binary, or null when there is none. */
export function findNatsServer(): string | null {
  const override = process.env.CNA_NATS_SERVER;
  if (override) return existsSync(override) ? override : null;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, "nats-server"))) return join(dir, "nats-server");
  }
  return existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : null;
}

/** Skips locally, fails under CI=true, when nats-server is missing or does not run. */
export function natsPrerequisite(): Prerequisite {
  return prerequisite("nats-server", () => {
    const bin = findNatsServer();
    if (!bin) return `nats-server not found on PATH or at /usr/sbin/nats-server (${INSTALL_HINT})`;
    const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
    return r.status === 0 ? null : `${bin} --version failed: ${(r.stderr || r.stdout || String(r.error)).trim()}`;
  });
}

export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  const bin = findNatsServer();
  if (!bin) throw new Error(`nats-server not found on PATH or at /usr/sbin/nats-server (${INSTALL_HINT})`);
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), "cna-nats-"));
  let running: Running | null = null;

  const stop = async () => {
    const r = running;
    running = null;
    if (r) await r.stop();
  };
  const signal = (sig: NodeJS.Signals) => {
    if (!running?.child.pid) throw new Error(`nats-server on port ${port} is not running`);
    running.child.kill(sig);
    return running.child.pid;
  };
  const start = async () => {
    running = await launch(bin, port, storeDir, readyTimeoutMs);
  };
  try {
    await start();
  } catch (err) {
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop,
    async restart() {
      await stop();
      await start();
    },
    async pause() {
      const pid = signal("SIGSTOP");
      await untilStopped(pid);
    },
    resume: () => signal("SIGCONT"),
    async [Symbol.asyncDispose]() {
      await stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}

interface Running {
  child: ChildProcess;
  stop(): Promise<void>;
}

async function launch(bin: string, port: number, storeDir: string, readyTimeoutMs: number): Promise<Running> {
  const child = spawn(bin, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], { stdio: ["ignore", "pipe", "pipe"] });
  // a test runner that dies mid-test must not leave a broker behind
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let log = "";
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log = (log + chunk.toString("utf8")).slice(-8192);
      if (log.includes("Server is ready")) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("error", reject);
    child.once("exit", (code, signal) => reject(new Error(`nats-server exited (${signal ?? `code ${code}`}) before it was ready:\n${log}`)));
  });
  const stop = async () => {
    process.off("exit", killOnExit);
    child.kill("SIGCONT"); // a paused server cannot act on SIGTERM
    await kill(child, exited);
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`nats-server on port ${port} not ready after ${readyTimeoutMs} ms:\n${log}`)), readyTimeoutMs);
  });
  try {
    await Promise.race([ready, timeout]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return { child, stop };
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), 5_000);
  });
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome === "late") {
    child.kill("SIGKILL");
    await exited;
  }
}

/**
 * SIGSTOP takes effect asynchronously: a busy server can still answer a request or two after
 * kill() returns. Wait until the kernel reports every thread stopped (state "T" in
 * /proc/<pid>/task/<tid>/stat); where there is no /proc, wait a moment instead.
 */
async function untilStopped(pid: number): Promise<void> {
  const tasks = `/proc/${pid}/task`;
  if (!existsSync(tasks)) return new Promise((resolve) => setTimeout(resolve, 200));
  const stopped = async () => {
    for (const tid of await readdir(tasks)) {
      const stat = await readFile(join(tasks, tid, "stat"), "utf8").catch(() => ""); // a thread that ended meanwhile
      const state = stat.replace(/^.*\) /s, "")[0];
      if (stat && state !== "T" && state !== "t") return false;
    }
    return true;
  };
  for (let waited = 0; waited < 5_000; waited += 5) {
    if (await stopped()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`nats-server (pid ${pid}) did not stop within 5 s of SIGSTOP`);
}

/** A port nothing listens on now: bind 127.0.0.1:0 and read back what the kernel chose. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("could not read back a free port"))));
    });
  });
}
