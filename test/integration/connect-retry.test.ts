/**
 * A worker started while NATS is down keeps trying, with backoff and a line per attempt, and
 * starts pulling once the server is up; with nothing to reach it gives up after
 * --connect-timeout with a named error. The same for its coordinator, which it asks for the
 * namespace to pull from before it connects to NATS: here a SweepService over a fake backend
 * that names namespace "retry".
 * A SIGTERM while it waits stops it at once (exit 0).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSweepServer } from "../../coordinator/index.ts";
import type { SweepServer } from "../../coordinator/index.ts";
import { CLI, runCli } from "../helpers/cli.ts";
import { FakeSweepBackend } from "../helpers/grpc-backend.ts";
import { freePort, natsPrerequisite, startNats } from "../helpers/nats.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-connect-"));
const nats = natsPrerequisite();
let coordinator: SweepServer;
beforeAll(async () => {
  coordinator = await startSweepServer({
    backend: new FakeSweepBackend(),
    host: "127.0.0.1",
    port: 0,
    namespace: "retry",
  });
});
afterAll(async () => {
  await coordinator.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("worker start-up without its coordinator", () => {
  it("gives up after --connect-timeout, having logged each attempt, before it connects to NATS", async () => {
    const t0 = Date.now();
    const r = await runCli(dir, [
      "worker",
      "--coordinator",
      `127.0.0.1:${await freePort()}`,
      "--nats",
      `nats://127.0.0.1:${await freePort()}`,
      "--id",
      "w",
      "--connect-timeout",
      "2",
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500);
    const attempts =
      r.stderr.match(
        / INFO the coordinator at 127\.0\.0\.1:\d+ not reachable \(attempt \d+: GRPC_UNAVAILABLE: .*\); trying again in [\d.]+ s worker=w /gm,
      ) ?? [];
    expect(attempts.length, r.stderr).toBeGreaterThanOrEqual(2);
    expect(r.stderr).not.toMatch(/NATS not reachable/);
    expect(r.stderr).toMatch(/^cna: GRPC_UNAVAILABLE: /m);
  });

  it("refuses a --namespace other than its coordinator's, naming both", async () => {
    const r = await runCli(dir, [
      "worker",
      "--coordinator",
      coordinator.address,
      "--nats",
      `nats://127.0.0.1:${await freePort()}`,
      "--namespace",
      "other",
      "--id",
      "w",
    ]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /^cna: NAMESPACE_MISMATCH: namespace "other" was given, but the coordinator at 127\.0\.0\.1:\d+ publishes under "retry"/m,
    );
    expect(r.stderr).not.toMatch(/pulling shards|NATS not reachable/);
  });
});

describe("worker start-up without NATS", () => {
  it("gives up after --connect-timeout, having logged each attempt", async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    const r = await runCli(dir, [
      "worker",
      "--coordinator",
      coordinator.address,
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
        /^\S+ INFO NATS not reachable \(attempt \d+: QUEUE_UNAVAILABLE: .*\); trying again in [\d.]+ s worker=w topic=nats$/gm,
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
          ? ["worker", "--coordinator", coordinator.address, "--nats", url, "--id", "early"]
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
        expect(stderr).toMatch(/ INFO SIGTERM: stopped while trying to reach NATS \(attempt \d+\)/m);
        expect(stderr).not.toMatch(/unexpected error|coordinator started|pulling shards/);
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
        coordinator.address,
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
      await seen(/ INFO pulling shards worker=late namespace=retry /);
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
      [CLI, "worker", "--coordinator", coordinator.address, "--nats", broker.url, "--id", "away"],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    worker.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => worker.once("exit", resolve));
    try {
      const until = Date.now() + 30_000;
      while (!stderr.includes("worker started") && Date.now() < until)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(stderr).toContain("worker started");
      await broker.stop();
      worker.kill("SIGTERM");
      // bounded: a drain waiting for a server that is gone would hang here
      const code = await Promise.race([
        exited,
        new Promise<string>((resolve) => setTimeout(() => resolve("still running after 20 s"), 20_000)),
      ]);
      expect(code, stderr).toBe(0);
      expect(stderr).toMatch(/worker stopping worker=away signal=SIGTERM/);
      expect(stderr).toMatch(/worker stopped worker=away/);
      expect(stderr).not.toMatch(/unexpected error/);
    } finally {
      worker.kill("SIGKILL");
    }
  });
});
