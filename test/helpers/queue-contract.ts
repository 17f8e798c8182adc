/**
 * The ShardQueue contract, run against every implementation (in-process now, JetStream in the
 * integration suite): dedup by id, ack, nak with delay, working(), redelivery after the ack
 * wait, term(), and the delivery limit.
 */
import { describe, expect, it } from "vitest";
import type { ShardQueue } from "../../core/index.ts";

/**
 * What pending() settles to once the broker applied the acks sent so far (JetStream applies an
 * ack a moment after ack() resolves): polled until it matches or `withinMs` passed.
 */
export async function settledPending(
  q: Pick<ShardQueue<unknown>, "pending">,
  expected: { waiting: number; unacked: number },
  withinMs = 5_000,
): Promise<{ waiting: number; unacked: number }> {
  const until = Date.now() + withinMs;
  for (;;) {
    const now = await q.pending();
    if ((now.waiting === expected.waiting && now.unacked === expected.unacked) || Date.now() >= until) return now;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A message of the contract: its group (for purge) is `group`, or "s1" when absent. */
export type ContractData = { n: number; group?: string };
export const contractGroupOf = (d: ContractData): string => d.group ?? "s1";

export interface QueueFactory {
  /** a fresh, empty queue; dead (exhausted or terminated) messages are reported to onDead */
  (o: {
    ackWaitMs: number;
    maxDeliver: number;
    onDead: (id: string, reason: string) => void;
  }): Promise<ShardQueue<ContractData>>;
}

export function queueContract(name: string, make: QueueFactory): void {
  describe(`ShardQueue contract: ${name}`, () => {
    const open = (ackWaitMs = 60_000, maxDeliver = 5) => {
      const dead: Array<[string, string]> = [];
      return make({ ackWaitMs, maxDeliver, onDead: (id, reason) => dead.push([id, reason]) }).then((q) => ({
        q,
        dead,
      }));
    };

    it("purges the waiting messages of one group only, and keeps them deduplicated", async () => {
      const { q } = await open();
      for (let n = 0; n < 6; n++) await q.publish(`m${n}`, { n, group: n % 2 === 0 ? "gone" : "kept" });
      expect(await q.purge("gone")).toBe(3);
      expect(await q.publish("m0", { n: 0, group: "gone" })).toBe(false);
      const got: string[] = [];
      for (let m = await q.pull(2000); m; m = await q.pull(200)) {
        got.push(m.id);
        await m.ack();
      }
      expect(got).toEqual(["m1", "m3", "m5"]);
      expect(await q.purge("nothing-here")).toBe(0);
      await q.close();
    });

    it("delivers in publish order and drops a second publish of the same id", async () => {
      const { q } = await open();
      expect(await q.publish("a", { n: 1 })).toBe(true);
      expect(await q.publish("b", { n: 2 })).toBe(true);
      expect(await q.publish("a", { n: 3 })).toBe(false);
      const m1 = (await q.pull(2000))!;
      const m2 = (await q.pull(2000))!;
      expect([m1.id, m1.data.n, m2.id, m2.data.n]).toEqual(["a", 1, "b", 2]);
      await m1.ack();
      await m2.ack();
      expect(await q.pull(50)).toBeNull();
      expect(await settledPending(q, { waiting: 0, unacked: 0 })).toEqual({ waiting: 0, unacked: 0 });
      await q.close();
    });

    it("redelivers a nak'd message with its delivery count", async () => {
      const { q } = await open();
      await q.publish("a", { n: 1 });
      const first = (await q.pull(2000))!;
      expect(first.deliveryCount).toBe(1);
      await first.nak(20);
      const again = (await q.pull(5000))!;
      expect([again.id, again.deliveryCount]).toEqual(["a", 2]);
      await again.ack();
      await q.close();
    });

    it("redelivers a message whose holder went silent past the ack wait, and working() prevents it", async () => {
      const { q } = await open(300);
      await q.publish("silent", { n: 1 });
      await q.publish("alive", { n: 2 });
      const silent = (await q.pull(2000))!;
      const alive = (await q.pull(2000))!;
      expect([silent.id, alive.id]).toEqual(["silent", "alive"]);
      const keepAlive = setInterval(() => void alive.working(), 50);
      const back = (await q.pull(5000))!;
      clearInterval(keepAlive);
      expect([back.id, back.deliveryCount]).toEqual(["silent", 2]);
      await silent.ack(); // a late ack from the old holder does not count
      await back.ack();
      await alive.ack();
      expect(await settledPending(q, { waiting: 0, unacked: 0 })).toEqual({ waiting: 0, unacked: 0 });
      await q.close();
    });

    it("gives up on a message after max deliveries and on term()", async () => {
      const { q, dead } = await open(60_000, 2);
      await q.publish("poison", { n: 1 });
      await q.publish("bad", { n: 2 });
      const p1 = (await q.pull(2000))!;
      const b1 = (await q.pull(2000))!;
      await b1.term("unsupported architecture");
      await p1.nak(0);
      const p2 = (await q.pull(2000))!;
      expect(p2.deliveryCount).toBe(2);
      await p2.nak(0);
      expect(await q.pull(100)).toBeNull();
      expect(dead.map(([id]) => id).sort()).toEqual(["bad", "poison"]);
      expect(dead.find(([id]) => id === "bad")![1]).toMatch(/unsupported architecture/);
      await q.close();
    });
  });
}
