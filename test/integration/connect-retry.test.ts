/**
 * A worker started while NATS is down keeps trying, with backoff and a line per attempt, and
 * starts pulling once the server is up; with nothing to reach it gives up after
 * --connect-timeout with a named error. A SIGTERM while it waits stops it at once (exit 0).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, runCli } from "../helpers/cli.ts";
import { freePort, natsPrerequisite, startNats } from "../helpers/nats.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-connect-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nats = natsPrerequisite();

describe("worker start-up without NATS", () => {
  it("gives up after --connect-timeout, having logged each attempt", async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    const r = await runCli(dir, [
      "worker",
      "--coordinator",
      "127.0.0.1:7070",
      "--nats",
      url,
      "--id",
      "w",
      "--connect-timeout",
      "2",
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500);
    const attempts =
      r.stderr.match(
        /^cna worker w: NATS not reachable \(attempt \d+: QUEUE_UNAVAILABLE: .*\); trying again in [\d.]+ s$/gm,
      ) ?? [];
    expect(attempts.length, r.stderr).toBeGreaterThanOrEqual(2);
    expect(r.stderr).toMatch(/^cna: QUEUE_UNAVAILABLE: /m);
  });

  it.each(["worker", "coordinator"])(
    "%s: a SIGTERM while it still waits for NATS stops it at once, exit 0, saying so",
    async (kind) => {
      const url = `nats://127.0.0.1:${await freePort()}`;
      const args =
        kind === "worker"
          ? ["worker", "--coordinator", "127.0.0.1:7070", "--nats", url, "--id", "early"]
          : ["coordinator", "--data", join(dir, "early-data"), "--nats", url, "--listen", "127.0.0.1:0"];
      const child = spawn(process.execPath, [CLI, ...args, "--connect-timeout", "120"], {
        cwd: dir,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      try {
        const until = Date.now() + 30_000;
        while (!stderr.includes("NATS not reachable (attempt 1") && Date.now() < until)
          await new Promise((resolve) => setTimeout(resolve, 50));
        expect(stderr).toContain("NATS not reachable (attempt 1");
        const t0 = Date.now();
        child.kill("SIGTERM");
        const code = await Promise.race([
          exited,
          new Promise<string>((resolve) => setTimeout(() => resolve("still running after 10 s"), 10_000)),
        ]);
        expect(code, stderr).toBe(0);
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect(stderr).toMatch(/: SIGTERM: stopped while trying to reach NATS \(attempt \d+\)$/m);
        expect(stderr).not.toMatch(/unexpected error|listening on|pulling shards/);
      } finally {
        child.kill("SIGKILL");
      }
    },
  );

  it.skipIf(nats.skip)("waits for a server that comes up later, then pulls", async () => {
    nats.assert();
    await using broker = await startNats();
    await broker.stop();
    const worker = spawn(
      process.execPath,
      [
        CLI,
        "worker",
        "--coordinator",
        "127.0.0.1:7070",
        "--nats",
        broker.url,
        "--id",
        "late",
        "--connect-timeout",
        "60",
      ],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    const seen = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = () => (re.test(stderr) ? resolve() : undefined);
        worker.stderr.on("data", (d: Buffer) => {
          stderr += d.toString();
          check();
        });
        worker.once("exit", (code) => reject(new Error(`worker exited (${code}) before ${re}:\n${stderr}`)));
        check();
      });
    try {
      await seen(/NATS not reachable \(attempt 1/);
      await broker.restart();
      await seen(/cna worker late: pulling shards/);
    } finally {
      // the broker goes with the test: a drain could not reach it
      worker.kill("SIGKILL");
    }
  });

  it.skipIf(nats.skip)("exits cleanly on SIGTERM while NATS is away", async () => {
    nats.assert();
    await using broker = await startNats();
    const worker = spawn(
      process.execPath,
      [CLI, "worker", "--coordinator", "127.0.0.1:7070", "--nats", broker.url, "--id", "away"],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    worker.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => worker.once("exit", resolve));
    try {
      const until = Date.now() + 30_000;
      while (!stderr.includes("pulling shards") && Date.now() < until)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(stderr).toContain("pulling shards");
      await broker.stop();
      worker.kill("SIGTERM");
      // bounded: a drain waiting for a server that is gone would hang here
      const code = await Promise.race([
        exited,
        new Promise<string>((resolve) => setTimeout(() => resolve("still running after 20 s"), 20_000)),
      ]);
      expect(code, stderr).toBe(0);
      expect(stderr).toMatch(/SIGTERM, draining/);
      expect(stderr).not.toMatch(/unexpected error/);
    } finally {
      worker.kill("SIGKILL");
    }
  });
});
