/**
 * Test queues: the in-process queue behind a class whose publish() a test overrides to slow the
 * broker down, count publishes or hold them back; every other call goes straight through.
 */
import { MemoryShardQueue } from "../../core/index.ts";
import type { QueueMessage, ShardQueue, ShardTask } from "../../core/index.ts";

export class ForwardingQueue implements ShardQueue<ShardTask> {
  published = 0;
  readonly inner = new MemoryShardQueue<ShardTask>({ ackWaitMs: 60_000, groupOf: (t) => t.sweepId });

  publish(id: string, data: ShardTask): Promise<boolean> {
    this.published++;
    return this.inner.publish(id, data);
  }
  pull(timeoutMs: number): Promise<QueueMessage<ShardTask> | null> {
    return this.inner.pull(timeoutMs);
  }
  pending() {
    return this.inner.pending();
  }
  purge(group: string) {
    return this.inner.purge(group);
  }
  close() {
    return this.inner.close();
  }
}
