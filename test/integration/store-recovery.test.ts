/**
 * What survives a bad disk and a poison shard:
 * - a stored result with one flipped bit is found by its digest when it is read (at restart or
 *   merge), moved aside, counted, and computed again; the rankings come out the same bytes and
 *   nothing else is recomputed; a blob's temp file left by a crash is removed at open;
 * - deliveries are journalled, so a shard that kills the process is quarantined after the
 *   delivery limit counted across restarts, not retried from zero by each one (by a SweepRun on
 *   its own, and by a coordinator on the in-process queue, as a local run assembles it).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SweepRun, SweepStore, replayJournal } from "../../coordinator/index.ts";
import type { PlanSpec, SweepEvent } from "../../coordinator/index.ts";
import { MemoryShardQueue } from "../../core/index.ts";
import type { ShardTask } from "../../core/index.ts";
import { prepareSweep, readSweepFile, resolvedSweepJson, runLocal, startCoordinator } from "../../app/index.ts";
import type { LocalRunOptions, LocalRunResult, PreparedSweep } from "../../app/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";
import { pathDigests } from "../helpers/digest.ts";

const root = mkdtempSync(join(tmpdir(), "cna-recovery-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const planOf = (models: PlanSpec["models"], modelPath: string): PlanSpec => ({
  sweepId: "recovery",
  cells: (["+", "-"] as const).map((op) => ({ key: { model: "tiny", op, digits: 1, template: 4 }, modelPath })),
  stages: ["head-ablation", "cna"],
  sample: 100,
  casesSeed: 0,
  pairsPerShard: 25,
  topK: 10,
  target: "predicted",
  ks: [5],
  verifySeed: 1,
  models,
});

/** One local run (in-process transport) to its end. */
async function runEmbedded(o: LocalRunOptions): Promise<LocalRunResult> {
  await using run = await runLocal(o);
  return await run.finished(); // awaited here, before the run is disposed
}

describe("a corrupt stored result", () => {
  let sweep: PreparedSweep;
  beforeAll(async () => {
    writeGpt2Checkpoint(join(root, "tiny"), { nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 16, seed: 4 });
    writeFileSync(
      join(root, "recovery.yaml"),
      `name: recovery
models: [{ id: tiny, path: tiny }]
operators: ["+", "-"]
digits: [1]
templates: [4]
cases: { sample: 100, seed: 0 }
stages: [head-ablation, cna]
cna: { topK: 10, target: predicted }
verify: { ks: [5], seed: 1 }
shard: { pairs: 25 }
`,
    );
    sweep = await prepareSweep(readSweepFile(join(root, "recovery.yaml")), { source: "recovery.yaml" });
  });

  it("is moved aside and recomputed at restart; the rankings stay the same bytes", async () => {
    const dataDir = join(root, "state");
    const first = await runEmbedded({ sweep, dataDir, workers: 1 });
    expect(first.state).toBe("SUCCEEDED");
    const sweepDir = join(dataDir, "sweeps", first.status.sweepId);
    const results = join(sweepDir, "results");
    const blobs = readdirSync(results)
      .filter((f) => f.endsWith(".json"))
      .sort();
    expect(blobs.length).toBe(first.status.shardsStored);
    // one bit flipped in a head-ablation blob (a stage merged again at every restart)
    const journal = readFileSync(join(sweepDir, "journal.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; shardId?: string });
    const published = journal.filter((e) => e.type === "shard-published") as unknown as Array<{
      shardId: string;
      task: ShardTask;
    }>;
    const victim = published.find((e) => e.task.stage === "head-ablation")!.shardId;
    const bytes = readFileSync(join(results, `${victim}.json`));
    const at = bytes.indexOf("0.") + 2;
    bytes[at] = bytes[at]! ^ 0x01;
    writeFileSync(join(results, `${victim}.json`), bytes);
    // and a blob's temp file, as a SIGKILL between write and rename leaves it
    writeFileSync(join(results, `${victim}.json.tmp-123-4`), "{");

    const events: SweepEvent[] = [];
    const again = await runEmbedded({ sweep, dataDir, workers: 1, onSweepEvent: (e) => events.push(e) });
    expect(again.state).toBe("SUCCEEDED");
    expect(JSON.stringify(again.rankings)).toBe(JSON.stringify(first.rankings));
    expect(events.filter((e) => e.type === "corrupt").map((e) => (e as { shardId: string }).shardId)).toEqual([victim]);
    // only the corrupt shard ran again
    expect(events.filter((e) => e.type === "stored").map((e) => (e as { shardId: string }).shardId)).toEqual([victim]);
    expect(readdirSync(join(results, "corrupt"))).toEqual([
      expect.stringMatching(new RegExp(`^${victim}\\.\\d+\\.json$`)),
    ]);
    expect(existsSync(join(results, `${victim}.json.tmp-123-4`))).toBe(false);
    expect(readFileSync(join(sweepDir, "journal.jsonl"), "utf8")).toMatch(
      new RegExp(`"type":"shard-corrupt","sweepId":"${first.status.sweepId}","shardId":"${victim}"`),
    );
  });
});

describe("a shard that kills the process", () => {
  it("is quarantined once its deliveries across restarts reach the limit", async () => {
    const dataDir = join(root, "poison");
    const plan = {
      ...planOf(pathDigests([{ id: "tiny", path: "/nonexistent" }]), "/nonexistent"),
      stages: ["head-ablation" as const],
      pairsPerShard: 100,
    };
    plan.cells = plan.cells.slice(0, 1);
    const maxDeliver = 3;
    /** One life of the process: the shard is delivered, and the process dies before any answer. */
    const life = async () => {
      const store = new SweepStore(dataDir);
      const journal = store.open();
      let run: SweepRun | undefined;
      const dead: string[] = [];
      const queue = new MemoryShardQueue<ShardTask>({
        maxDeliver,
        groupOf: (t) => t.sweepId,
        onDeliver: (id, n) => run!.delivered(id, n),
        onDead: (id, reason) => (dead.push(reason), run!.quarantine(id, reason)),
      });
      run = new SweepRun(plan, store, queue);
      await run.start(replayJournal(journal, plan.sweepId));
      const pulled = await queue.pull(50);
      store.close(); // the crash: nothing acked, nothing reported
      await queue.close();
      return { pulled: pulled?.deliveryCount ?? null, status: run.status(), dead };
    };
    expect((await life()).pulled).toBe(1);
    expect((await life()).pulled).toBe(2);
    expect((await life()).pulled).toBe(3);
    const fourth = await life();
    expect(fourth.pulled).toBeNull();
    expect(fourth.status.state).toBe("FAILED");
    expect(fourth.status.quarantined).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/delivered 3 times \(max 3\)/) }),
    ]);
    // and it stays quarantined: the journal says so
    const fifth = await life();
    expect([fifth.pulled, fifth.status.state]).toEqual([null, "FAILED"]);
  });

  it("is quarantined the same way on a coordinator with the in-process queue (a local run's)", async () => {
    writeFileSync(
      join(root, "poison.yaml"),
      'name: poison\nmodels: [{ id: tiny, path: tiny }]\noperators: ["+"]\ndigits: [1]\nstages: [head-ablation]\nshard: { pairs: 100, maxAttempts: 3 }\n',
    );
    const sweep = await prepareSweep(readSweepFile(join(root, "poison.yaml")), { source: "poison.yaml" });
    /** One life: the coordinator resumes the sweep, its shard is delivered, and the process dies before any answer. */
    const life = async () => {
      const running = await startCoordinator({
        dataDir: join(root, "poison-local"),
        listen: null,
        maxDeliver: 3,
        resumeAtStart: false,
      });
      const submitted = await running.coordinator.submit(resolvedSweepJson(sweep.spec), "poison.yaml");
      const pulled = await running.inProcess!.queue.pull(50);
      const status = running.coordinator.get(submitted.sweepId);
      await running.close(); // the crash: nothing acked, nothing reported
      return { pulled: pulled?.deliveryCount ?? null, status };
    };
    expect((await life()).pulled).toBe(1);
    expect((await life()).pulled).toBe(2);
    expect((await life()).pulled).toBe(3);
    const fourth = await life();
    expect([fourth.pulled, fourth.status.state]).toEqual([null, "FAILED"]);
    expect(fourth.status.quarantined).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/delivered 3 times \(max 3\)/) }),
    ]);
  });
});
