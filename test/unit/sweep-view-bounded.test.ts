/**
 * A sweep's view goes to every watcher on every change, so it must not grow with the sweep: it
 * lists at most VIEW_QUARANTINED_LISTED quarantined shards (the first in planning order), while
 * the stages count every one.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Coordinator, VIEW_QUARANTINED_LISTED, quarantinedCount } from "../../coordinator/index.ts";
import type { SweepView } from "../../coordinator/index.ts";
import { MemoryShardQueue } from "../../core/index.ts";
import type { ShardTask } from "../../core/index.ts";
import { digestPath } from "../helpers/digest.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-view-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SHARDS = 3 * VIEW_QUARANTINED_LISTED;
const YAML = `name: many
models: [{ id: m, path: /nonexistent/m }]
operators: ["+"]
digits: [2]
cases: { sample: ${SHARDS} }
stages: [head-ablation]
shard: { pairs: 1 }
`;

describe("SweepView", () => {
  it("lists the first quarantined shards only, counts them all, and a watcher's view stays that size", async () => {
    const queue = new MemoryShardQueue<ShardTask>({ ackWaitMs: 60_000, groupOf: (t) => t.sweepId });
    const coordinator = new Coordinator({ dataDir: dir, queue, digestModel: digestPath });
    await coordinator.start();
    try {
      const { sweepId } = await coordinator.submit(YAML, "many.yaml");
      const views: SweepView[] = [];
      const stop = coordinator.watch(sweepId, (v) => views.push(v));
      const order: string[] = [];
      for (let m = await queue.pull(100); m; m = await queue.pull(100)) {
        order.push(m.id);
        coordinator.shardDead(m.id, "out of deliveries");
      }
      expect(order.length).toBe(SHARDS);
      await new Promise((resolve) => setImmediate(resolve)); // the watchers' turn
      stop();
      const view = coordinator.get(sweepId);
      expect(view.state).toBe("FAILED");
      expect(quarantinedCount(view)).toBe(SHARDS);
      expect(view.quarantined.length).toBe(VIEW_QUARANTINED_LISTED);
      expect(view.quarantined.map((q) => q.shardId)).toEqual(order.slice(0, VIEW_QUARANTINED_LISTED));
      expect(views.at(-1)!.quarantined.length).toBe(VIEW_QUARANTINED_LISTED);
      expect(Math.max(...views.map((v) => v.quarantined.length))).toBe(VIEW_QUARANTINED_LISTED);
    } finally {
      await queue.close();
      coordinator.close();
    }
  });
});
