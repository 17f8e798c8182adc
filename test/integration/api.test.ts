/**
 * The programmatic API, used as a library user would: everything of the project comes from the
 * package's own name (`"exports"` in package.json → app/index.ts). A small sweep over a zoo
 * model runs embedded (runLocal, in-process queue), through NATS JetStream and gRPC (runLocal
 * with a real nats-server), and through a started coordinator and worker (startCoordinator,
 * startWorker); the three rankings are the same bytes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareSweep, readSweepFile, resolvedSweepJson, runLocal, startCoordinator, startWorker } from "cna-sweep";
import type { LocalRunOptions, PreparedSweep, Rankings, SweepState } from "cna-sweep";
import { natsPrerequisite, startNats } from "../helpers/nats.ts";

const MODEL = fileURLToPath(new URL("../../models/arith-2l-d64", import.meta.url));
const nats = natsPrerequisite();

/** rankings.json as `cna run` writes it */
const text = (r: Rankings) => `${JSON.stringify(r, null, 2)}\n`;

describe("the package's API", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-api-"));
  let sweep: PreparedSweep;
  let embedded: string;
  beforeAll(async () => {
    writeFileSync(
      join(dir, "api.yaml"),
      `name: api
models: [{ id: m, path: ${JSON.stringify(MODEL)} }]
operators: ["+", "-"]
digits: [1]
stages: [head-ablation, cna, verify]
cna: { topK: 20 }
verify: { ks: [5, 10] }
shard: { pairs: 50 }
`,
    );
    sweep = await prepareSweep(readSweepFile(join(dir, "api.yaml")), { source: "api.yaml" });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A local run to its end; finished() is awaited before the run is disposed. */
  const local = async (o: Omit<LocalRunOptions, "sweep">): Promise<{ state: SweepState; rankings: string }> => {
    await using run = await runLocal({ sweep, ...o });
    const r = await run.finished();
    return { state: r.state, rankings: text(r.rankings) };
  };

  it("runs a sweep embedded, with the neurons' top tokens", async () => {
    const r = await local({ dataDir: join(dir, "embedded"), workers: 2 });
    expect(r.state).toBe("SUCCEEDED");
    const rankings = JSON.parse(r.rankings) as Rankings;
    expect(
      rankings.cells.map((c) => [
        c.model,
        c.op,
        c.heads?.length,
        c.neurons?.length,
        c.verification?.mask.map((p) => p.k),
      ]),
    ).toEqual([
      ["m", "+", 8, 50, [5, 10]],
      ["m", "-", 8, 50, [5, 10]],
    ]);
    expect(rankings.cells[0]!.neurons![0]!.topTokens?.length).toBeGreaterThan(0);
    embedded = r.rankings;
  });

  it.skipIf(nats.skip)("runs it through NATS JetStream and gRPC with byte-identical rankings", async () => {
    nats.assert();
    await using broker = await startNats();
    const r = await local({
      dataDir: join(dir, "nats"),
      workers: 2,
      transport: { kind: "nats", nats: { servers: broker.url } },
    });
    expect(r.state).toBe("SUCCEEDED");
    expect(r.rankings).toBe(embedded);
  });

  it.skipIf(nats.skip)(
    "runs it on a started coordinator and worker, as on a cluster, with byte-identical rankings",
    async () => {
      nats.assert();
      await using broker = await startNats();
      const transport = { kind: "nats", nats: { servers: broker.url } } as const;
      await using coordinator = await startCoordinator({
        dataDir: join(dir, "coordinator"),
        transport,
        listen: { host: "127.0.0.1", port: 0 },
      });
      expect(coordinator.address).toMatch(/^127\.0\.0\.1:\d+$/);
      await using worker = await startWorker({
        id: "api-worker",
        concurrency: 2,
        transport: { ...transport, coordinator: coordinator.address! },
      });
      const submitted = await coordinator.coordinator.submit(resolvedSweepJson(sweep.spec), "api.yaml");
      const state = await new Promise<SweepState>((resolve) => {
        const stop = coordinator.coordinator.watch(submitted.sweepId, (v) => {
          if (v.state === "RUNNING") return;
          queueMicrotask(() => stop());
          resolve(v.state);
        });
      });
      expect(state).toBe("SUCCEEDED");
      expect(worker.activity()).toMatchObject({ workers: 1, failures: 0 });
      expect((await coordinator.coordinator.rankings(submitted.sweepId)).json).toBe(embedded);
    },
  );

  it("resumes on the same data directory without running a shard", async () => {
    let started = 0;
    const r = await local({
      dataDir: join(dir, "embedded"),
      onWorkerEvent: (_, e) => void (e.type === "started" && started++),
    });
    expect([r.state, started]).toEqual(["SUCCEEDED", 0]);
    expect(r.rankings).toBe(embedded);
  });

  it("refuses a bad option by name, and tells a finished() outlived by its run", async () => {
    await expect(runLocal({ sweep, dataDir: join(dir, "bad"), workers: 0 })).rejects.toMatchObject({
      code: "BAD_SPEC",
      field: "workers",
    });
    const run = await runLocal({ sweep, dataDir: join(dir, "closed"), fresh: true });
    const finished = expect(run.finished()).rejects.toMatchObject({ code: "RUN_CLOSED", retryable: true });
    await run.close();
    await finished;
  });
});
