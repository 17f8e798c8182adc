/**
 * `cna drain` (the worker's preStop hook) calls WorkerService.Drain with the bearer token and
 * returns once the worker has drained; a wrong token is refused and drains nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorkerServer } from "../../worker/index.ts";
import type { WorkerInfoView, WorkerServer } from "../../worker/index.ts";
import { runCli } from "../helpers/cli.ts";

describe("cna drain", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-drain-"));
  const info: WorkerInfoView = {
    id: "w",
    state: "RUNNING",
    provider: "cpu",
    modelsLoaded: [],
    inFlight: 1,
    version: "test",
    resultFormatVersion: 1,
    executionProviders: ["cpu"],
  };
  let drained = 0;
  let server: WorkerServer;
  beforeAll(async () => {
    writeFileSync(join(dir, "token"), "s3cret-drain-token-0123\n");
    writeFileSync(join(dir, "wrong"), "nope-wrong-token-0123\n");
    server = await startWorkerServer({
      describe: () => info,
      analyze: async () => "{}",
      drain: async () => {
        drained++;
        info.state = "STOPPED";
      },
      token: "s3cret-drain-token-0123",
      host: "127.0.0.1",
      port: 0,
    });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("drains the worker and refuses a wrong token", async () => {
    const bad = await runCli(dir, [
      "drain",
      "--worker",
      `127.0.0.1:${server.port}`,
      "--token-file",
      join(dir, "wrong"),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/UNAUTHENTICATED/);
    expect(drained).toBe(0);
    const ok = await runCli(dir, ["drain", "--worker", `127.0.0.1:${server.port}`, "--token-file", join(dir, "token")]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/drained/);
    expect(drained).toBe(1);
  });
});
