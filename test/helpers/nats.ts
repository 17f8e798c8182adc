/**
 * A real NATS broker for integration and chaos tests: JetStream on, file store, a fresh one per
 * startNats(). `restart()` keeps the URL and the store, so a test can check what survives a
 * broker restart; `await using` stops it and removes what it left.
 *
 * Two backends, one suite; which one is decided once per process by CNA_TEST_NATS:
 * - `container`: testcontainers runs the official image (`nats:2.10-alpine -js -sd /data`) with
 *   container port 4222 bound to a host port picked by freePort(), so `restart()` (docker restart,
 *   the container and its /data kept) and stop()-then-restart() come back on the same URL;
 *   `pause()`/`resume()` are docker pause/unpause. Needs a container runtime testcontainers can
 *   reach (Docker, Podman via DOCKER_HOST, ~/.testcontainers.properties) and nothing else: the
 *   image is pulled on first use.
 * - `binary`: the nats-server binary (Debian package `nats-server`, on PATH or at
 *   /usr/sbin/nats-server; CNA_NATS_SERVER overrides) on 127.0.0.1, a free port and a temp store
 *   dir, paused and restarted by PID.
 * - `auto` (the default): `container` when a container runtime is reachable, else `binary`. The
 *   check is cheap where there is plainly no runtime (no DOCKER_HOST, no
 *   ~/.testcontainers.properties, no docker.sock where testcontainers looks); otherwise it asks
 *   testcontainers' getContainerRuntimeClient() in a child process (natsPrerequisite() must answer
 *   synchronously), 3 s at most. testcontainers is never loaded into the test process on the
 *   binary path.
 * With neither available natsPrerequisite() reports both ways to get one: locally the tests
 * skip, under CI=true they fail with that reason.
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
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { prerequisite } from "./prereq.ts";
import type { Prerequisite } from "./prereq.ts";

export type NatsBackend = "binary" | "container";

export interface NatsServer extends AsyncDisposable {
  /** which backend runs it (see CNA_TEST_NATS) */
  readonly backend: NatsBackend;
  /** `nats://127.0.0.1:<port>` (binary), `nats://<container host>:<port>` (container); the same after restart() */
  readonly url: string;
  /** the host port */
  readonly port: number;
  /**
   * the JetStream store dir, kept across restart(): a host temp dir removed on dispose (binary),
   * or `/data` inside the container, removed with it (container)
   */
  readonly storeDir: string;
  /** stops the server (SIGTERM / docker stop, killed after 5 s); a no-op when already stopped */
  stop(): Promise<void>;
  /** stops the server if running and starts it again on the same port with the same store */
  restart(): Promise<void>;
  /** freezes the server (SIGSTOP / docker pause) and waits until it is frozen: connections stay open, nothing is answered */
  pause(): Promise<void>;
  /** thaws a paused server (SIGCONT, done on return / docker unpause, done when the promise settles) */
  resume(): Promise<void>;
}

export interface StartNatsOptions {
  /** how long to wait for "Server is ready" once the process or container runs (default 10 s) */
  readyTimeoutMs?: number;
  /** more nats-server arguments, for both backends, e.g. `["--user", "u", "--pass", "p"]` to require credentials */
  args?: readonly string[];
}

export const NATS_IMAGE = "nats:2.10-alpine";
const CONTAINER_STORE = "/data";
const INSTALL_HINT = "apt-get install nats-server, or set CNA_NATS_SERVER to the binary";
const RUNTIME_HINT = "start Docker or Podman, or point DOCKER_HOST at one";
/** how long getContainerRuntimeClient() may take in the probe, loading testcontainers not counted */
const PROBE_MS = 3_000;

/** The nats-server binary, or null when there is none. */
export function findNatsServer(): string | null {
  const override = process.env.CNA_NATS_SERVER;
  if (override) return existsSync(override) ? override : null;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, "nats-server"))) return join(dir, "nats-server");
  }
  return existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : null;
}

type Mode = NatsBackend | "auto";
export type NatsChoice = { backend: NatsBackend; missing: null } | { backend: null; missing: string };

/** CNA_TEST_NATS: binary, container or auto (unset or empty: auto); anything else throws. */
function natsMode(): Mode {
  const value = (process.env.CNA_TEST_NATS ?? "").trim() || "auto";
  if (value === "binary" || value === "container" || value === "auto") return value;
  throw new Error(`CNA_TEST_NATS=${value}: expected binary, container or auto`);
}

let chosen: NatsChoice | undefined;

/**
 * The backend startNats() uses in this process, decided on the first call (by natsPrerequisite()
 * or startNats()) and kept; `missing` says why there is none.
 */
export function natsBackend(): NatsChoice {
  return (chosen ??= choose(natsMode()));
}

function choose(mode: Mode): NatsChoice {
  if (mode === "binary") {
    const missing = binaryMissing();
    return missing ? { backend: null, missing: `${missing} (${INSTALL_HINT})` } : { backend: "binary", missing: null };
  }
  const noRuntime = runtimeMissing();
  if (!noRuntime) return { backend: "container", missing: null };
  if (mode === "container") {
    return {
      backend: null,
      missing: `CNA_TEST_NATS=container, but ${noRuntime}: ${RUNTIME_HINT}, or set CNA_TEST_NATS=binary to use nats-server`,
    };
  }
  const noBinary = binaryMissing();
  if (!noBinary) return { backend: "binary", missing: null };
  return {
    backend: null,
    missing: `no NATS broker: ${noRuntime}, and ${noBinary}. Either ${RUNTIME_HINT} (testcontainers pulls the nats image), or ${INSTALL_HINT}`,
  };
}

/** null when the nats-server binary is there and runs; otherwise why not (without the install hint). */
function binaryMissing(): string | null {
  const bin = findNatsServer();
  if (!bin)
    return process.env.CNA_NATS_SERVER
      ? `CNA_NATS_SERVER=${process.env.CNA_NATS_SERVER} does not exist`
      : "nats-server is not on PATH or at /usr/sbin/nats-server";
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? null : `${bin} --version failed: ${(r.stderr || r.stdout || String(r.error)).trim()}`;
}

/**
 * Where testcontainers 11 looks for a runtime (its TestcontainersHost, Configuration, UnixSocket,
 * RootlessUnixSocket and NpipeSocket strategies). None of them there means no runtime, without
 * loading testcontainers (~1.5 s); one there still has to answer (runtimeMissing()).
 */
function runtimeCandidates(): string[] {
  const found: string[] = [];
  if (process.env.DOCKER_HOST) found.push(`DOCKER_HOST=${process.env.DOCKER_HOST}`);
  const properties = join(homedir(), ".testcontainers.properties");
  if (existsSync(properties)) found.push(properties);
  if (process.platform === "win32") found.push("the Docker named pipe");
  if (process.platform === "linux" || process.platform === "darwin") {
    const sockets = [
      "/var/run/docker.sock",
      join(homedir(), ".docker", "run", "docker.sock"),
      join(homedir(), ".docker", "desktop", "docker.sock"),
    ];
    if (process.env.XDG_RUNTIME_DIR) sockets.push(join(process.env.XDG_RUNTIME_DIR, "docker.sock"));
    if (process.getuid) sockets.push(`/run/user/${process.getuid()}/docker.sock`);
    found.push(...sockets.filter((s) => existsSync(s)));
  }
  return found;
}

/** The probe, run by a child node: what getContainerRuntimeClient() says, as one JSON line. */
const PROBE = `
const out = (o) => { process.stdout.write(JSON.stringify(o)); process.exit(0); };
const tc = require(process.env.CNA_TESTCONTAINERS);
setTimeout(() => out({ error: "no answer within ${PROBE_MS} ms" }), ${PROBE_MS}).unref();
tc.getContainerRuntimeClient().then(
  (c) => out({ runtime: c.info.containerRuntime.host + " (server " + c.info.containerRuntime.serverVersion + ")" }),
  (e) => out({ error: String(e && e.message || e) }),
);`;

/** null when testcontainers reaches a container runtime; otherwise why not. */
function runtimeMissing(): string | null {
  const candidates = runtimeCandidates();
  if (candidates.length === 0) {
    return "no container runtime is reachable (no DOCKER_HOST, no ~/.testcontainers.properties, no docker.sock where testcontainers looks)";
  }
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve("testcontainers");
  } catch {
    return "testcontainers is not installed (npm ci)";
  }
  const r = spawnSync(process.execPath, ["-e", PROBE], {
    encoding: "utf8",
    env: { ...process.env, CNA_TESTCONTAINERS: entry },
    timeout: PROBE_MS + 15_000, // loading testcontainers on a cold disk, then the probe's own limit
  });
  let answer: { runtime?: string; error?: string } = {};
  try {
    answer = JSON.parse(r.stdout) as typeof answer;
  } catch {
    answer = {
      error: r.error ? String(r.error) : `probe exited ${r.signal ?? r.status}: ${r.stderr.trim().slice(-500)}`,
    };
  }
  return answer.runtime
    ? null
    : `no container runtime is reachable through ${candidates.join(", ")} (testcontainers: ${answer.error ?? "no answer"})`;
}

/**
 * Skips locally, fails under CI=true, when the backend CNA_TEST_NATS asks for is missing (auto:
 * when there is neither a container runtime nor a working nats-server).
 */
export function natsPrerequisite(): Prerequisite {
  const mode = natsMode();
  const name =
    mode === "binary" ? "nats-server" : mode === "container" ? "nats (container)" : "nats (container or nats-server)";
  return prerequisite(name, () => natsBackend().missing);
}

export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  const choice = natsBackend();
  if (!choice.backend) throw new Error(choice.missing);
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const args = options.args ?? [];
  return choice.backend === "container" ? startContainer(readyTimeoutMs, args) : startBinary(readyTimeoutMs, args);
}

async function startContainer(readyTimeoutMs: number, args: readonly string[]): Promise<NatsServer> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import("testcontainers");
  // a fixed host port: docker may hand out another ephemeral port when a container starts again
  const port = await freePort();
  const started = await new GenericContainer(NATS_IMAGE)
    .withCommand(["-js", "-sd", CONTAINER_STORE, ...args])
    .withExposedPorts({ container: 4222, host: port })
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .withStartupTimeout(readyTimeoutMs)
    .start();
  const client = await getContainerRuntimeClient();
  const docker = client.container.getById(started.getId());
  const url = `nats://${started.getHost()}:${started.getMappedPort(4222)}`;
  let running = true;
  let paused = false;
  const thaw = async () => {
    if (paused) await docker.unpause();
    paused = false;
  };
  const notRunning = () => new Error(`nats container ${started.getId().slice(0, 12)} (${url}) is not running`);
  const stop = async () => {
    if (!running) return;
    running = false;
    await thaw(); // docker stop refuses a paused container
    await client.container.stop(docker, { timeout: 5_000 }); // kept, with its /data, for restart()
  };
  return {
    backend: "container",
    url,
    port,
    storeDir: CONTAINER_STORE,
    stop,
    async restart() {
      await thaw();
      await started.restart({ timeout: 5_000 }); // starts a stopped container too; waits for "Server is ready" again
      running = true;
      const now = started.getMappedPort(4222);
      if (now !== port) throw new Error(`nats container came back on host port ${now}, not ${port}`);
    },
    async pause() {
      if (!running) throw notRunning();
      await docker.pause(); // returns once the cgroup is frozen
      paused = true;
    },
    async resume() {
      if (!running) throw notRunning();
      await thaw();
    },
    async [Symbol.asyncDispose]() {
      running = false;
      await thaw();
      await started.stop({ timeout: 5_000 }); // and removes it with its volumes
    },
  };
}

async function startBinary(readyTimeoutMs: number, args: readonly string[]): Promise<NatsServer> {
  const bin = findNatsServer();
  if (!bin) throw new Error(`nats-server not found on PATH or at /usr/sbin/nats-server (${INSTALL_HINT})`);
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
    running = await launch(bin, port, storeDir, readyTimeoutMs, args);
  };
  try {
    await start();
  } catch (err) {
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
  return {
    backend: "binary",
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
    resume() {
      signal("SIGCONT"); // throws here, not in a promise, when not running
      return Promise.resolve();
    },
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

async function launch(
  bin: string,
  port: number,
  storeDir: string,
  readyTimeoutMs: number,
  args: readonly string[],
): Promise<Running> {
  const child = spawn(bin, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
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
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      reject(new Error(`nats-server exited (${signal ?? `code ${code}`}) before it was ready:\n${log}`)),
    );
  });
  const stop = async () => {
    process.off("exit", killOnExit);
    child.kill("SIGCONT"); // a paused server cannot act on SIGTERM
    await kill(child, exited);
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`nats-server on port ${port} not ready after ${readyTimeoutMs} ms:\n${log}`)),
      readyTimeoutMs,
    );
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
