/**
 * Coordinators sharing one nats-server: each publishes to its own namespace's stream, and a
 * worker pulls only from the namespace of the coordinator it reports to (it asks at start), so
 * no worker takes another coordinator's shards. Two coordinators with their own workers run a
 * sweep each at the same time, and both rankings are the bytes of the embedded run. Where two
 * coordinators are given the same namespace anyway, a worker hands back the shards of a sweep its
 * coordinator does not run, unrun and without reporting a failure, and tells it once. Beside
 * the one stream of releases without namespaces (CNA_SHARDS, subjects cna.shards.>), a run
 * stopped midway resumes on the same derived namespace and ends with the same bytes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  namespaceOfDataDir,
  prepareSweep,
  readSweepFile,
  resolvedSweepJson,
  runLocal,
  startCoordinator,
  startWorker,
} from "../../app/index.ts";
import type {
  LocalRun,
  PreparedSweep,
  Rankings,
  RunningCoordinator,
  RunningWorker,
  SweepState,
  WorkerEvent,
} from "../../app/index.ts";
import { AckPolicy, RetentionPolicy, StorageType, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { namespaceNames } from "../../transport/index.ts";
import { natsPrerequisite, startNats } from "../helpers/nats.ts";

const MODEL = fileURLToPath(new URL("../../models/arith-2l-d64", import.meta.url));
const SWEEP_MS = 180_000;
const nats = natsPrerequisite();

/** rankings.json as `cna run` writes it */
const text = (r: Rankings) => `${JSON.stringify(r, null, 2)}\n`;

/** Polls `probe` every 50 ms until true; throws naming `what` after `timeoutMs`. */
async function until(probe: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves with the sweep's final state (watch calls back at once, then on every change). */
function finished(c: RunningCoordinator, id: string): Promise<SweepState> {
  return new Promise((resolve) => {
    const stop = c.coordinator.watch(id, (v) => {
      if (v.state === "RUNNING") return;
      queueMicrotask(() => stop());
      resolve(v.state);
    });
  });
}

describe.skipIf(nats.skip)("namespaces on one nats-server", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-namespaces-"));
  let sweep: PreparedSweep;
  let yaml: string;
  let embedded: string;
  beforeAll(async () => {
    writeFileSync(
      join(dir, "ns.yaml"),
      `name: ns
models: [{ id: m, path: ${JSON.stringify(MODEL)} }]
operators: ["+", "-"]
digits: [1]
stages: [head-ablation, cna]
cna: { topK: 20 }
shard: { pairs: 25 }
`,
    );
    sweep = await prepareSweep(readSweepFile(join(dir, "ns.yaml")), { source: "ns.yaml" });
    yaml = resolvedSweepJson(sweep.spec);
    await using run = await runLocal({ sweep, dataDir: join(dir, "embedded"), workers: 2 });
    const r = await run.finished();
    expect(r.state).toBe("SUCCEEDED");
    embedded = text(r.rankings);
  }, SWEEP_MS);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A coordinator through `url` on its own data directory, and its workers' events by worker. */
  const fleet = async (url: string, name: string, o: { namespace?: string; maxDeliver?: number } = {}) => {
    const coordinator = await startCoordinator({
      dataDir: join(dir, name),
      transport: {
        kind: "nats",
        nats: { servers: url, ...(o.namespace !== undefined ? { namespace: o.namespace } : {}) },
      },
      ...(o.maxDeliver !== undefined ? { maxDeliver: o.maxDeliver } : {}),
    });
    const events: Array<{ worker: string; e: WorkerEvent }> = [];
    const worker = (): Promise<RunningWorker> =>
      startWorker({
        id: `${name}-w`,
        loops: 2,
        threads: 1,
        pullTimeoutMs: 200,
        transport: { kind: "nats", nats: { servers: url }, coordinator: coordinator.address! },
        onWorkerEvent: (worker, e) => events.push({ worker, e }),
      });
    return { coordinator, events, worker, [Symbol.asyncDispose]: () => coordinator.close() };
  };

  it(
    "two coordinators with their own workers run a sweep each at the same time: both byte-identical to the embedded run",
    async () => {
      nats.assert();
      await using broker = await startNats();
      await using a = await fleet(broker.url, "a");
      await using b = await fleet(broker.url, "b");
      // each derived from its data directory, so they differ
      expect(a.coordinator.namespace).toBe(await namespaceOfDataDir(join(dir, "a")));
      expect(b.coordinator.namespace).toBe(await namespaceOfDataDir(join(dir, "b")));
      expect(a.coordinator.namespace).not.toBe(b.coordinator.namespace);
      // the workers of both are pulling before either sweep is submitted
      await using wa = await a.worker();
      await using wb = await b.worker();
      expect([wa.namespace, wb.namespace]).toEqual([a.coordinator.namespace, b.coordinator.namespace]);
      const [sa, sb] = await Promise.all([
        a.coordinator.coordinator.submit(yaml, "ns.yaml"),
        b.coordinator.coordinator.submit(yaml, "ns.yaml"),
      ]);
      expect(sa.sweepId).not.toBe(sb.sweepId);
      const states = await Promise.all([finished(a.coordinator, sa.sweepId), finished(b.coordinator, sb.sweepId)]);
      expect(states).toEqual(["SUCCEEDED", "SUCCEEDED"]);
      expect((await a.coordinator.coordinator.rankings(sa.sweepId)).json).toBe(embedded);
      expect((await b.coordinator.coordinator.rankings(sb.sweepId)).json).toBe(embedded);
      // both fleets worked, and nothing reached a worker whose coordinator does not run it
      for (const f of [a, b]) {
        expect(f.events.filter(({ e }) => e.type === "finished").length).toBeGreaterThan(0);
        expect(f.events.filter(({ e }) => e.type === "misrouted" || e.type === "failed")).toEqual([]);
      }
      const status = [a, b].map((f, i) => f.coordinator.coordinator.get([sa, sb][i]!.sweepId));
      expect(status.map((s) => [s.quarantined.length, s.redeliveries])).toEqual([
        [0, 0],
        [0, 0],
      ]);
    },
    SWEEP_MS * 2,
  );

  it(
    "one namespace given to two coordinators: the other's worker hands the shards back unrun, tells it once, and the sweep still succeeds",
    async () => {
      nats.assert();
      await using broker = await startNats();
      // the delivery limit is JetStream's, and every hand-back is a delivery: high enough here
      // that the foreign worker's hand-backs cannot run it out
      await using owner = await fleet(broker.url, "owner", { namespace: "shared", maxDeliver: 100_000 });
      await using other = await fleet(broker.url, "other", { namespace: "shared", maxDeliver: 100_000 });
      const submitted = await owner.coordinator.coordinator.submit(yaml, "ns.yaml");
      const foreign = await other.worker();
      try {
        await until(() => other.events.some(({ e }) => e.type === "misrouted"), "a shard handed back", 60_000);
        // every shard of the first stage handed back, more than once each: told no more
        const nc = await connect({ servers: broker.url });
        try {
          const jsm = await jetstreamManager(nc);
          const stream = namespaceNames("shared").stream;
          const enough = 2 * submitted.stages[0]!.total;
          const deadline = Date.now() + 60_000;
          while ((await jsm.consumers.info(stream, "cna-workers")).delivered.consumer_seq <= enough) {
            if (Date.now() > deadline) throw new Error(`fewer than ${enough} deliveries within 60 s`);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        } finally {
          await nc.close();
        }
      } finally {
        await foreign.close();
      }
      const seen = other.events.map(({ e }) => e);
      expect(seen.filter((e) => e.type === "misrouted")).toEqual([
        {
          type: "misrouted",
          shardId: expect.stringMatching(/^[0-9a-f]{32}$/),
          sweepId: submitted.sweepId,
          reason: `the coordinator this worker reports to does not run sweep ${submitted.sweepId}`,
        },
      ]);
      // nothing ran, nothing was reported as a failure
      expect(seen.filter((e) => e.type !== "misrouted")).toEqual([]);
      const before = owner.coordinator.coordinator.get(submitted.sweepId);
      expect([before.state, before.quarantined, before.shardsStored]).toEqual(["RUNNING", [], 0]);
      await using own = await owner.worker();
      expect([foreign.namespace, own.namespace]).toEqual(["shared", "shared"]);
      expect(await finished(owner.coordinator, submitted.sweepId)).toBe("SUCCEEDED");
      expect((await owner.coordinator.coordinator.rankings(submitted.sweepId)).json).toBe(embedded);
      expect(owner.events.filter(({ e }) => e.type === "misrouted" || e.type === "failed")).toEqual([]);
    },
    SWEEP_MS * 2,
  );
  it(
    "beside the stream of releases without namespaces, a run stopped midway resumes on the same namespace, same bytes",
    async () => {
      nats.assert();
      await using broker = await startNats();
      // what an earlier release left on the server: CNA_SHARDS over cna.shards.>, its consumer, a shard
      const nc = await connect({ servers: broker.url });
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({
          name: "CNA_SHARDS",
          subjects: ["cna.shards.>"],
          retention: RetentionPolicy.Workqueue,
          storage: StorageType.File,
        });
        await jsm.consumers.add("CNA_SHARDS", { durable_name: "cna-workers", ack_policy: AckPolicy.Explicit });
        await jsm.jetstream().publish("cna.shards.old.m", "{}", { msgID: "old" });
      } finally {
        await nc.close();
      }
      const dataDir = join(dir, "resumed");
      const transport = { kind: "nats" as const, nats: { servers: broker.url } };
      const first: LocalRun = await runLocal({ sweep, dataDir, workers: 1, threads: 1, transport });
      const namespace = first.coordinator.namespace;
      try {
        await until(() => first.status().shardsStored >= 1, "a stored shard", 120_000);
      } finally {
        await first.close();
      }
      await using again = await runLocal({ sweep, dataDir, workers: 2, threads: 1, transport });
      expect(again.coordinator.namespace).toBe(namespace);
      expect(namespace).toBe(await namespaceOfDataDir(dataDir));
      expect(again.submitted.shardsStored).toBeGreaterThanOrEqual(1);
      const r = await again.finished();
      expect(r.state).toBe("SUCCEEDED");
      expect(text(r.rankings)).toBe(embedded);
    },
    SWEEP_MS * 2,
  );
});
