/**
 * Publishing a large stage does not hold up reports: a result reported while the stage's shards
 * are still being published is stored and answered at once, not after the last publish.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Coordinator } from "../../coordinator/index.ts";
import { encodePartial, shardIdOfMessage } from "../../core/index.ts";
import type { ShardTask } from "../../core/index.ts";
import { digestPath } from "../helpers/digest.ts";
import { ForwardingQueue } from "../helpers/queues.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-publish-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The in-process queue, whose publishes stop at `open` until release() (a broker slowing down). */
class GatedQueue extends ForwardingQueue {
  private gate: Promise<void>;
  release!: () => void;
  constructor(readonly open: number) {
    super();
    this.gate = new Promise((resolve) => (this.release = resolve));
  }
  override async publish(id: string, data: ShardTask): Promise<boolean> {
    if (this.published >= this.open) await this.gate;
    return super.publish(id, data);
  }
}

const YAML = `name: wide
models: [{ id: m, path: /nonexistent/m }]
operators: ["+"]
digits: [2]
cases: { sample: 400 }
stages: [head-ablation]
shard: { pairs: 1 }
`;

describe("publishing a stage", () => {
  it("answers a report while the rest of the stage is still being published", async () => {
    const queue = new GatedQueue(50);
    const coordinator = new Coordinator({ dataDir: dir, queue, digestModel: digestPath });
    await coordinator.start();
    try {
      const submitted = coordinator.submit(YAML, "wide.yaml");
      const msg = (await queue.pull(10_000))!;
      expect(msg).not.toBeNull();
      const result = encodePartial({
        kind: "head-ablation",
        dims: { nLayer: 1, nHead: 2, dMlp: 8 },
        cases: 1,
        baselineCorrect: 1,
        baselineProbSum: 1,
        correct: [1, 1],
        probSum: [1, 1],
      });
      const outcome = await coordinator.reportShard({
        sweepId: msg.data.sweepId,
        shardId: shardIdOfMessage(msg.id),
        worker: "w",
        attempt: 1,
        result,
      });
      expect(outcome).toBe("stored");
      expect(queue.published).toBe(50); // the gate is still shut: the report did not wait for it
      queue.release();
      expect((await submitted).shardsStored).toBe(1);
      expect(queue.published).toBe(400);
    } finally {
      queue.release();
      await queue.close();
      coordinator.close();
    }
  });
});
