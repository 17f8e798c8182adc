/**
 * A coordinator or worker whose --listen port is taken exits at once with a named error, having
 * closed what it opened; it does not print "unexpected error" and keep running. Here the port is
 * the NATS server's own. The worker asks its coordinator for the namespace first: here a
 * SweepService over a fake backend.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startSweepServer } from "../../coordinator/index.ts";
import { runCli } from "../helpers/cli.ts";
import { FakeSweepBackend } from "../helpers/grpc-backend.ts";
import { natsPrerequisite, startNats } from "../helpers/nats.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-listen-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nats = natsPrerequisite();

describe.skipIf(nats.skip)("a taken --listen port", () => {
  it("stops the coordinator and the worker with LISTEN_FAILED", async () => {
    nats.assert();
    await using broker = await startNats();
    const taken = `127.0.0.1:${broker.port}`;
    const coordinator = await runCli(dir, [
      "coordinator",
      "--data",
      join(dir, "data"),
      "--nats",
      broker.url,
      "--listen",
      taken,
    ]);
    expect(coordinator.code, coordinator.stderr).toBe(1);
    expect(coordinator.stderr).toMatch(
      new RegExp(`^cna: LISTEN_FAILED: cannot listen on ${taken.replace(/\./g, "\\.")}: the address is in use`, "m"),
    );
    expect(coordinator.stderr).not.toMatch(/unexpected error|coordinator started/);
    await using fake = await startSweepServer({
      backend: new FakeSweepBackend(),
      host: "127.0.0.1",
      port: 0,
      namespace: "listen",
    });
    const worker = await runCli(dir, [
      "worker",
      "--coordinator",
      fake.address,
      "--nats",
      broker.url,
      "--id",
      "w",
      "--listen",
      taken,
    ]);
    expect(worker.code, worker.stderr).toBe(1);
    expect(worker.stderr).toMatch(/^cna: LISTEN_FAILED: cannot listen on .*: the address is in use/m);
    expect(worker.stderr).not.toMatch(/unexpected error|worker started/);
  });
});
