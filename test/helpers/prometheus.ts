/**
 * Prometheus for tests (Debian package `prometheus`, which brings `promtool` too): promtool for
 * the rule and dashboard checks, and a real server on 127.0.0.1 on a free port with its TSDB in a
 * fresh temp dir, scraping the given targets. `await using` stops it by PID and removes the dir.
 *
 * @example
 * ```ts
 * const prom = prometheusPrerequisite();
 * it.skipIf(prom.skip)("...", async () => {
 *   prom.assert();
 *   await using server = await startPrometheus({ targets: ["127.0.0.1:9464"], scrapeIntervalS: 1 });
 *   const value = await server.query("sum(cna_shards_completed_total)");
 * });
 * ```
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort } from "./nats.ts";
import { prerequisite } from "./prereq.ts";
import type { Prerequisite } from "./prereq.ts";

const INSTALL_HINT = "apt-get install prometheus";

/** A binary on PATH or in /usr/bin, or null. */
export function findBinary(name: "promtool" | "prometheus"): string | null {
  for (const dir of [...(process.env.PATH ?? "").split(delimiter), "/usr/bin"]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

function binaryPrerequisite(name: "promtool" | "prometheus"): Prerequisite {
  return prerequisite(name, () => {
    const bin = findBinary(name);
    if (!bin) return `${name} not found on PATH or in /usr/bin (${INSTALL_HINT})`;
    const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
    return r.status === 0 ? null : `${bin} --version failed: ${(r.stderr || r.stdout || String(r.error)).trim()}`;
  });
}

export const promtoolPrerequisite = (): Prerequisite => binaryPrerequisite("promtool");
export const prometheusPrerequisite = (): Prerequisite => binaryPrerequisite("prometheus");

/** Runs promtool with `args`; its exit status and output together. */
export function promtool(args: readonly string[], cwd?: string): { status: number | null; output: string } {
  const bin = findBinary("promtool");
  if (!bin) throw new Error(`promtool not found (${INSTALL_HINT})`);
  const r = spawnSync(bin, args, { encoding: "utf8", cwd });
  return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ""}` };
}

export interface PrometheusServer extends AsyncDisposable {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** an instant query's samples (`/api/v1/query`): labels and value of each */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** what the server logged so far (for failure messages) */
  log(): string;
  stop(): Promise<void>;
}

export interface StartPrometheusOptions {
  /** HOST:PORT of /metrics endpoints, all in one job "cna" */
  targets: readonly string[];
  scrapeIntervalS?: number;
  /** how long to wait for /-/ready (default 30 s) */
  readyTimeoutMs?: number;
}

export async function startPrometheus(o: StartPrometheusOptions): Promise<PrometheusServer> {
  const bin = findBinary("prometheus");
  if (!bin) throw new Error(`prometheus not found (${INSTALL_HINT})`);
  const dir = await mkdtemp(join(tmpdir(), "cna-prometheus-"));
  const interval = `${o.scrapeIntervalS ?? 1}s`;
  const config = [
    "global:",
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    "scrape_configs:",
    "  - job_name: cna",
    `    scrape_timeout: ${interval}`,
    "    static_configs:",
    `      - targets: [${o.targets.map((t) => JSON.stringify(t)).join(", ")}]`,
    "",
  ].join("\n");
  await writeFile(join(dir, "prometheus.yml"), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    bin,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  const keep = (d: Buffer) => (log = (log + d.toString("utf8")).slice(-16_384));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const killOnExit = () => child.kill("SIGKILL"); // a runner that dies mid-test leaves no server behind
  process.on("exit", killOnExit);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    process.off("exit", killOnExit);
    await kill(child, exited);
  };
  const dispose = async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await untilReady(url, child, o.readyTimeoutMs ?? 30_000, () => log);
  } catch (err) {
    await dispose();
    throw err;
  }
  return {
    url,
    log: () => log,
    stop,
    [Symbol.asyncDispose]: dispose,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      if (body.status !== "success" || !body.data) throw new Error(`query ${expr} failed: ${body.error ?? res.status}`);
      if (body.data.resultType !== "vector")
        throw new Error(`query ${expr} gave a ${body.data.resultType}, not an instant vector`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  };
}

async function untilReady(url: string, child: ChildProcess, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `prometheus exited (${child.signalCode ?? `code ${child.exitCode}`}) before it was ready:\n${log()}`,
      );
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`prometheus at ${url} not ready after ${timeoutMs} ms:\n${log()}`);
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), 10_000)));
  const outcome = await Promise.race([exited, late]);
  clearTimeout(timer);
  if (outcome === "late") {
    child.kill("SIGKILL");
    await exited;
  }
}
