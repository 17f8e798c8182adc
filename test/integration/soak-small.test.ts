/**
 * The soak benchmark's bookkeeping, small (3,000 shards) and without timing: a no-op sweep
 * through real nats-server and gRPC with 4 workers — every shard stored exactly once, the
 * rankings complete, the journal compacted along the way (and bounded), the watch view small,
 * and a restarted coordinator replaying to the same state and the same rankings bytes without
 * reading the finished stage's results again. Speed is the benchmark's (`npm run bench -- soak`).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Coordinator, quarantinedCount, startSweepServer } from "../../coordinator/index.ts";
import type { SweepEvent, SweepView } from "../../coordinator/index.ts";
import { encodePartial, decodePartial } from "../../core/index.ts";
import type { HeadAblationPartial, ShardTask } from "../../core/index.ts";
import { JetStreamShardQueue } from "../../transport/index.ts";
import { GrpcResultSink, ModelCache, ShardWorker } from "../../worker/index.ts";
import { digestPath } from "../helpers/digest.ts";
import { natsPrerequisite, startNats } from "../helpers/nats.ts";
import type { NatsServer } from "../helpers/nats.ts";

const nats = natsPrerequisite();
const root = mkdtempSync(join(tmpdir(), "cna-soak-small-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CELLS = 4;
const SHARDS = 3_000;
/** small enough that 3,000 shards compact the journal several times */
const COMPACT_BYTES = 64 * 1024;
const YAML = `name: soak-small
models:
${Array.from({ length: CELLS }, (_, i) => `  - { id: noop-${i}, path: /nonexistent/noop-${i} }`).join("\n")}
operators: ["+"]
digits: [3]
cases: { sample: ${SHARDS / CELLS} }
stages: [head-ablation]
shard: { pairs: 1 }
`;

/** A head-ablation partial of one case, as a 2-layer, 4-head model's shard would report it. */
const PARTIAL = decodePartial(
  encodePartial({
    kind: "head-ablation",
    dims: { nLayer: 2, nHead: 4, dMlp: 256 },
    cases: 1,
    baselineCorrect: 1,
    baselineProbSum: 0.5,
    correct: [1, 0, 1, 1, 0, 1, 1, 1],
    probSum: [0.25, 0.125, 0.5, 0.25, 0.0625, 0.25, 0.375, 0.25],
  } satisfies HeadAblationPartial),
);

describe.skipIf(nats.skip)("soak, small (3,000 shards through nats-server and gRPC)", () => {
  let server: NatsServer;
  beforeAll(async () => {
    nats.assert();
    server = await startNats();
  });
  afterAll(async () => {
    await server?.[Symbol.asyncDispose]();
  });

  it("stores every shard once, compacts the journal, and a restart replays to the same state and rankings", async () => {
    const tag = randomBytes(4).toString("hex");
    const js = {
      servers: server.url,
      stream: `SOAK_${tag}`,
      subjectPrefix: `soak${tag}.shards`,
      subjectOf: (t: ShardTask) => ({ sweep: t.sweepId, model: t.cell.model }),
    };
    const dataDir = join(root, "data");
    const events: SweepEvent[] = [];
    /** a control plane on the data directory: JetStream publisher, coordinator, gRPC server */
    const controlPlane = async (onSweepEvent: (e: SweepEvent) => void) => {
      let coordinator: Coordinator | undefined;
      const queue = await JetStreamShardQueue.create<ShardTask>({
        ...js,
        ackWaitMs: 60_000,
        onDead: (id, reason) => coordinator?.shardDead(id, reason),
      });
      coordinator = new Coordinator({
        dataDir,
        queue,
        digestModel: digestPath,
        compactJournalBytes: COMPACT_BYTES,
        onSweepEvent: (_, e) => onSweepEvent(e),
      });
      await coordinator.start();
      const grpc = await startSweepServer({ backend: coordinator, host: "127.0.0.1", port: 0 });
      return {
        coordinator,
        address: grpc.address,
        close: async () => {
          await grpc.close();
          await queue.close();
          coordinator.close();
        },
      };
    };

    const first = await controlPlane((e) => events.push(e));
    const queues = await Promise.all(
      Array.from({ length: 4 }, () => JetStreamShardQueue.create<ShardTask>({ ...js, followConsumer: true })),
    );
    const sinks = queues.map(() => new GrpcResultSink({ address: first.address }));
    const workers = queues.map(
      (q, i) =>
        new ShardWorker(q, sinks[i]!, new ModelCache(), {
          id: `w${i}`,
          pullTimeoutMs: 200,
          execute: async () => PARTIAL,
        }),
    );
    let final: SweepView;
    let rankings: string;
    let views: SweepView[];
    try {
      for (const w of workers) w.start();
      const { sweepId } = await first.coordinator.submit(YAML, "soak-small.yaml");
      views = [];
      final = await new Promise<SweepView>((resolve) => {
        const stop = first.coordinator.watch(sweepId, (v) => {
          views.push(v);
          if (v.state === "RUNNING") return;
          queueMicrotask(() => stop());
          resolve(v);
        });
      });
      rankings = (await first.coordinator.rankings(sweepId)).json;
    } finally {
      await Promise.all(workers.map((w) => w.drain()));
      for (const s of sinks) s.close();
      for (const q of queues) await q.close();
      await first.close();
    }

    // every planned shard stored exactly once, nothing duplicated, redelivered or quarantined
    const published = events.flatMap((e) => (e.type === "published" ? [e.shard.id] : []));
    const stored = events.flatMap((e) => (e.type === "stored" ? [e.shardId] : []));
    expect(new Set(published).size).toBe(SHARDS);
    expect(stored.length).toBe(SHARDS);
    expect(new Set(stored)).toEqual(new Set(published));
    expect(final).toMatchObject({ state: "SUCCEEDED", shardsStored: SHARDS, duplicates: 0, nondeterministic: 0 });
    expect(quarantinedCount(final)).toBe(0);

    // the rankings cover every cell and every case
    const parsed = JSON.parse(rankings) as { cells: Array<{ cases: number; heads: unknown[] }> };
    expect(parsed.cells.map((c) => [c.cases, c.heads.length])).toEqual(
      Array.from({ length: CELLS }, () => [SHARDS / CELLS, 8]),
    );

    // the journal was compacted and stayed bounded; a watch update is the same size all along
    const sweepDir = join(dataDir, "sweeps", final.sweepId);
    const snapshot = readFileSync(join(sweepDir, "journal.snapshot.jsonl"), "utf8");
    expect((JSON.parse(snapshot.slice(0, snapshot.indexOf("\n"))) as { epoch: number }).epoch).toBeGreaterThan(1);
    expect(statSync(join(sweepDir, "journal.jsonl")).size).toBeLessThan(Math.max(COMPACT_BYTES, snapshot.length) * 2);
    const sizes = views.map((v) => JSON.stringify(v).length);
    expect(Math.max(...sizes)).toBeLessThan(2 * Math.min(...sizes));

    // a restart replays to the same state and serves the same rankings; the finished stage's
    // results are not read again (a blob damaged since would otherwise be recomputed)
    const blobs = readdirSync(join(sweepDir, "results")).filter((f) => f.endsWith(".json"));
    expect(blobs.length).toBe(SHARDS);
    writeFileSync(join(sweepDir, "results", blobs[0]!), "{");
    const again: SweepEvent[] = [];
    const second = await controlPlane((e) => again.push(e));
    try {
      const view = second.coordinator.get(final.sweepId);
      const same = (v: SweepView) => ({ state: v.state, stages: v.stages, shardsStored: v.shardsStored });
      expect(same(view)).toEqual(same(final));
      expect((await second.coordinator.rankings(final.sweepId)).json).toBe(rankings);
      expect(again.filter((e) => e.type === "corrupt" || e.type === "published")).toEqual([]);
      expect(existsSync(join(sweepDir, "results", "corrupt"))).toBe(false);
    } finally {
      await second.close();
    }
  }, 300_000);
});
