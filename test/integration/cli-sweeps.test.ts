/**
 * The remote CLI as people use it, against a real coordinator and worker (in-process, through a
 * real nats-server and gRPC on 127.0.0.1) with the `cna` bin as a child process: the address
 * from $CNA_COORDINATOR; `cna watch` of a sweep whose model the worker cannot find (its shards
 * quarantined); `cna list` (table and --json); the model put back and `cna rerun --failed`, after
 * which the sweep succeeds with rankings byte-identical to a clean run's; `cna watch --json`;
 * resubmitting the identical file; `cna cancel`, and the refusals by code. A closed port reads as
 * an unreachable coordinator, not as a gRPC status dump.
 */
import { cpSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareSweep, readSweepFile, runLocal, startCoordinator, startWorker } from "../../app/index.ts";
import type { RunningCoordinator } from "../../app/index.ts";
import { startSweepServer } from "../../coordinator/index.ts";
import { runCli } from "../helpers/cli.ts";
import { FakeSweepBackend } from "../helpers/grpc-backend.ts";
import { opensslPrerequisite, selfSignedCert } from "../helpers/grpc.ts";
import { natsPrerequisite, startNats } from "../helpers/nats.ts";
import type { NatsServer } from "../helpers/nats.ts";

const ZOO_MODEL = fileURLToPath(new URL("../../models/arith-2l-d64", import.meta.url));
const nats = natsPrerequisite();
const openssl = opensslPrerequisite;
const STEP_MS = 120_000;

function sweepYaml(name: string, model: string): string {
  return `name: ${name}
models: [{ id: m, path: ${JSON.stringify(model)} }]
operators: ["+", "-"]
digits: [1]
stages: [head-ablation, cna, verify]
cna: { topK: 20 }
verify: { ks: [5, 10] }
shard: { pairs: 50 }
`;
}

/** A port nothing listens on: bound, read, released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("cna list, cancel, rerun against a coordinator", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-cli-sweeps-"));
  const model = join(dir, "m");
  /** the environment the CLI runs in: no inherited token or context, a home of its own */
  const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("CNA_") && k !== "XDG_CONFIG_HOME"),
  );
  baseEnv.HOME = join(dir, "home");

  it("a closed port is an unreachable coordinator, with what to check", async () => {
    const port = await closedPort();
    const r = await runCli(dir, ["list"], { ...baseEnv, CNA_COORDINATOR: `127.0.0.1:${port}` });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `cna: UNREACHABLE: cannot reach the coordinator at 127.0.0.1:${port}, from $CNA_COORDINATOR (is \`cna coordinator\` running? set --coordinator or CNA_COORDINATOR): connection refused`,
    );
    expect(r.stderr).not.toMatch(/GRPC_|Resolution note/);
  });

  it.skipIf(openssl.skip)(
    "TLS to a plaintext coordinator is TLS_HANDSHAKE_FAILED, a wrong token UNAUTHENTICATED, each naming what to set",
    async () => {
      openssl.assert();
      using cert = selfSignedCert();
      const server = await startSweepServer({
        backend: new FakeSweepBackend(),
        host: "127.0.0.1",
        port: 0,
        token: "the-right-token-0123",
      });
      try {
        const tls = await runCli(dir, ["list", "--coordinator", server.address, "--tls-ca", cert.certPath], baseEnv);
        expect(tls.code).toBe(1);
        // (node may warn first that TLS ignores an IP address as the server name)
        expect(tls.stderr.trim().split("\n").at(-1)).toBe(
          `cna: TLS_HANDSHAKE_FAILED: TLS with the coordinator at ${server.address} failed: the server does not speak TLS on this port: leave out --tls-ca, --tls-cert and --tls-key, or use its TLS port`,
        );
        writeFileSync(join(dir, "wrong.token"), "a-wrong-token-012345\n");
        const auth = await runCli(dir, ["list"], {
          ...baseEnv,
          CNA_COORDINATOR: server.address,
          CNA_TOKEN_FILE: join(dir, "wrong.token"),
        });
        expect(auth.code).toBe(1);
        expect(auth.stderr.trim()).toBe(
          `cna: UNAUTHENTICATED: the coordinator at ${server.address}, from $CNA_COORDINATOR refused the call: the bearer token is not valid (give its token with --token-file, CNA_TOKEN_FILE or the context's token-file)`,
        );
      } finally {
        await server.close();
      }
    },
  );

  describe.skipIf(nats.skip)("with nats-server", () => {
    let broker: NatsServer;
    let coordinator: RunningCoordinator;
    let reference: string;
    let env: NodeJS.ProcessEnv;
    const cna = (args: readonly string[]) => runCli(dir, args, env);

    beforeAll(async () => {
      nats.assert();
      cpSync(ZOO_MODEL, model, { recursive: true });
      writeFileSync(join(dir, "sweep.yaml"), sweepYaml("cli-rerun", model));
      writeFileSync(join(dir, "other.yaml"), sweepYaml("cli-cancel", model));
      // the reference: the same sweep run embedded, where nothing fails
      const sweep = await prepareSweep(readSweepFile(join(dir, "sweep.yaml")), { source: "sweep.yaml" });
      {
        await using run = await runLocal({ sweep, dataDir: join(dir, "reference"), workers: 2 });
        const r = await run.finished();
        expect(r.state).toBe("SUCCEEDED");
        reference = `${JSON.stringify(r.rankings, null, 2)}\n`;
      }
      broker = await startNats();
      coordinator = await startCoordinator({
        dataDir: join(dir, "data"),
        transport: { kind: "nats", nats: { servers: broker.url } },
        listen: { host: "127.0.0.1", port: 0 },
      });
      env = { ...baseEnv, CNA_COORDINATOR: coordinator.address! };
    }, STEP_MS);

    afterAll(async () => {
      await coordinator?.close();
      await broker?.[Symbol.asyncDispose]();
      rmSync(dir, { recursive: true, force: true });
    }, 30_000);

    it(
      "quarantines the shards of a missing model; after it is back, rerun --failed completes the sweep with the clean run's rankings",
      async () => {
        const submitted = await cna(["submit", "sweep.yaml"]);
        expect(submitted.code, submitted.stderr).toBe(0);
        const id = submitted.stdout.trim();
        expect(id).toMatch(/^cli-rerun-[0-9a-f]{10}$/);
        // the worker's side loses the model (the coordinator read it at submit)
        renameSync(model, `${model}.away`);
        const worker = await startWorker({
          id: "cli-worker",
          concurrency: 2,
          transport: { kind: "nats", nats: { servers: broker.url }, coordinator: coordinator.address! },
        });
        try {
          const failed = await cna(["watch", id]);
          expect(failed.code, failed.stderr).toBe(1);
          expect(failed.stderr).toMatch(/^quarantined: .* shard \w+: MODEL_NOT_FOUND: /m);
          expect(failed.stderr).toContain(`once the cause is fixed: cna rerun ${id} --failed`);

          const listed = await cna(["list", "--json"]);
          expect(listed.code, listed.stderr).toBe(0);
          const [row] = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
          expect(row).toMatchObject({ id, name: "cli-rerun", state: "failed", done: 0 });
          expect((row!.quarantined as unknown[]).length).toBeGreaterThan(0);
          expect(row!.total).toBeGreaterThan(0);
          const table = await cna(["list"]);
          expect(table.stdout.split("\n")[0]).toMatch(/^ID +NAME +STATE +PROGRESS +QUARANTINED +AGE$/);
          expect(table.stdout).toMatch(new RegExp(`^${id} +cli-rerun +failed +0/\\d+ +[1-9]\\d* +\\d+s$`, "m"));

          renameSync(`${model}.away`, model);
          const rerun = await cna(["rerun", id, "--failed"]);
          expect(rerun.code, rerun.stderr).toBe(0);
          expect(rerun.stdout).toMatch(new RegExp(`^${id} \\[running\\] `));
          const watched = await cna(["watch", id, "--json"]);
          expect(watched.code, watched.stderr).toBe(0);
          const updates = watched.stdout
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as { id: string; state: string; done: number; total: number });
          expect(updates.at(-1)).toMatchObject({ id, state: "succeeded" });
          expect(updates.at(-1)!.done).toBe(updates.at(-1)!.total);
          const rankings = await cna(["rankings", id, "--json"]);
          expect(rankings.code, rankings.stderr).toBe(0);
          expect(rankings.stdout).toBe(reference);

          const again = await cna(["rerun", id, "--failed"]);
          expect(again.code).toBe(1);
          expect(again.stderr).toMatch(/^cna: NOTHING_TO_RERUN: sweep \S+ \(succeeded\) has no quarantined shard/);
          const resubmitted = await cna(["submit", "sweep.yaml"]);
          expect(resubmitted.code, resubmitted.stderr).toBe(0);
          expect(resubmitted.stdout.trim()).toBe(id);
          expect(resubmitted.stderr).toContain(`sweep ${id} already exists (identical file); returning it`);
        } finally {
          await worker.close();
        }
      },
      4 * STEP_MS,
    );

    it("cancels a sweep, which then is not rerun; an unknown id is SWEEP_NOT_FOUND", async () => {
      // no worker runs now: the sweep is still running when it is cancelled
      const submitted = await cna(["submit", "other.yaml", "--json"]);
      expect(submitted.code, submitted.stderr).toBe(0);
      const sweep = JSON.parse(submitted.stdout) as { id: string; state: string };
      expect(sweep.state).toBe("running");
      const cancelled = await cna(["cancel", sweep.id, "--json"]);
      expect(cancelled.code, cancelled.stderr).toBe(0);
      expect(JSON.parse(cancelled.stdout)).toMatchObject({ id: sweep.id, state: "cancelled" });
      const rerun = await cna(["rerun", sweep.id, "--failed"]);
      expect(rerun.code).toBe(1);
      expect(rerun.stderr).toMatch(/^cna: SWEEP_CANCELLED: sweep \S+ was cancelled/);
      const listed = JSON.parse((await cna(["list", "--json"])).stdout) as Array<{ id: string; state: string }>;
      // newest first
      expect(listed.map((s) => [s.id, s.state])[0]).toEqual([sweep.id, "cancelled"]);
      const unknown = await cna(["cancel", "cli-cancel-0000000000"]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/^cna: SWEEP_NOT_FOUND: /);
    });
  });
});
