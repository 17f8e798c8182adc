/**
 * JetStreamShardQueue against a real nats-server (2.9+, file store in a temp dir): the shared
 * ShardQueue contract, then what only a broker can show — messages and dedup surviving a
 * broker restart, and the errors for a missing broker and a misfitting stream.
 */
import { randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetStreamShardQueue } from "../../transport/index.ts";
import type { JetStreamOptions } from "../../transport/index.ts";
import { contractGroupOf, queueContract, settledPending } from "../helpers/queue-contract.ts";
import type { ContractData } from "../helpers/queue-contract.ts";
import { natsPrerequisite, startNats } from "../helpers/nats.ts";
import type { NatsServer } from "../helpers/nats.ts";

const nats = natsPrerequisite();

type Data = ContractData;

/** A stream, subject prefix and durable no other test uses. */
function unique(): Pick<JetStreamOptions<Data>, "stream" | "subjectPrefix" | "durable"> {
  const tag = randomBytes(4).toString("hex");
  return { stream: `T_${tag}`, subjectPrefix: `cna.test.${tag}`, durable: `w_${tag}` };
}

const subjectOf = (d: Data) => ({ sweep: contractGroupOf(d), model: `m${d.n % 2}` });

describe.skipIf(nats.skip)("JetStreamShardQueue (nats-server)", () => {
  let server: NatsServer;

  beforeAll(async () => {
    nats.assert();
    server = await startNats();
  });

  afterAll(async () => {
    await server?.[Symbol.asyncDispose]();
  });

  queueContract("JetStreamShardQueue", (o) =>
    JetStreamShardQueue.create<Data>({ servers: server.url, subjectOf, ...unique(), ...o }),
  );

  queueContract("JetStreamShardQueue, 3 messages per pull request", (o) =>
    JetStreamShardQueue.create<Data>({ servers: server.url, subjectOf, ...unique(), pullBatch: 3, ...o }),
  );

  it("with pullBatch, one pull request brings several messages; the rest wait for the next pulls, kept alive past the ack wait", async () => {
    const names = unique();
    await using a = await JetStreamShardQueue.create<Data>({
      servers: server.url,
      subjectOf,
      ...names,
      ackWaitMs: 1_000,
      pullBatch: 3,
    });
    await using b = await JetStreamShardQueue.create<Data>({
      servers: server.url,
      subjectOf,
      ...names,
      followConsumer: true,
    });
    for (const [id, n] of [
      ["x", 1],
      ["y", 2],
      ["z", 3],
    ] as const)
      await a.publish(id, { n });
    const x = (await a.pull(2_000))!;
    expect(x.id).toBe("x");
    await x.ack();
    // y and z came with x's request: another worker gets neither, not even once their ack wait passed twice
    for (const until = Date.now() + 2_500; Date.now() < until;) expect(await b.pull(250)).toBeNull();
    const y = (await a.pull(100))!;
    const z = (await a.pull(100))!;
    expect([y.id, y.deliveryCount, z.id, z.deliveryCount]).toEqual(["y", 1, "z", 1]);
    await y.ack();
    await z.ack();
    expect(await settledPending(a, { waiting: 0, unacked: 0 })).toEqual({ waiting: 0, unacked: 0 });
  });

  it("refuses a pullBatch below 1, naming it", async () => {
    await expect(
      JetStreamShardQueue.create<Data>({ servers: server.url, subjectOf, ...unique(), pullBatch: 0 }),
    ).rejects.toMatchObject({ field: "pullBatch" });
  });

  it("keeps queued messages across a broker restart (file storage)", async () => {
    await using q = await JetStreamShardQueue.create<Data>({ servers: server.url, subjectOf, ...unique() });
    expect(await q.publish("a", { n: 1 })).toBe(true);
    expect(await q.publish("b", { n: 2 })).toBe(true);
    await server.restart();
    const a = (await q.pull(10_000))!;
    expect([a.id, a.data.n, a.deliveryCount]).toEqual(["a", 1, 1]);
    await a.ack();
    const b = (await q.pull(5_000))!;
    expect([b.id, b.data.n]).toEqual(["b", 2]);
    await b.ack();
    expect(await settledPending(q, { waiting: 0, unacked: 0 })).toEqual({ waiting: 0, unacked: 0 });
  });

  it("still drops a duplicate publish after the client reconnected to a restarted broker", async () => {
    await using q = await JetStreamShardQueue.create<Data>({ servers: server.url, subjectOf, ...unique() });
    expect(await q.publish("shard-1", { n: 1 })).toBe(true);
    await server.restart();
    expect(await q.publish("shard-1", { n: 99 })).toBe(false);
    const m = (await q.pull(5_000))!;
    expect([m.id, m.data.n]).toEqual(["shard-1", 1]);
    await m.ack();
    expect(await q.pull(200)).toBeNull();
  });

  it("keeps a message the broker sends after pull() gave up, for the next pull()", async () => {
    await using q = await JetStreamShardQueue.create<Data>({ servers: server.url, subjectOf, ...unique() });
    await q.publish("a", { n: 1 });
    await server.pause(); // the pull request waits, unread, in the frozen broker's socket
    try {
      expect(await q.pull(50)).toBeNull();
    } finally {
      await server.resume(); // now the broker answers the abandoned request with "a"
    }
    const m = (await q.pull(2_000))!;
    expect([m.id, m.deliveryCount]).toEqual(["a", 1]); // the same delivery, not a redelivery
    await m.ack();
    expect(await settledPending(q, { waiting: 0, unacked: 0 })).toEqual({ waiting: 0, unacked: 0 });
  });

  it("brings the consumer to its ack wait, unless it follows the consumer (as workers follow the coordinator)", async () => {
    const names = unique();
    await using coordinator = await JetStreamShardQueue.create<Data>({
      servers: server.url,
      subjectOf,
      ...names,
      ackWaitMs: 2_000,
      maxDeliver: 3,
    });
    expect(coordinator.ackWaitMs).toBe(2_000);
    await using follower = await JetStreamShardQueue.create<Data>({
      servers: server.url,
      subjectOf,
      ...names,
      followConsumer: true,
    });
    expect(follower.ackWaitMs).toBe(2_000);
    await using other = await JetStreamShardQueue.create<Data>({ servers: server.url, subjectOf, ...names });
    expect(other.ackWaitMs).toBe(30_000);
  });

  it("routes by sweep and model, and a filtered durable sees only its model", async () => {
    const names = unique();
    await using all = await JetStreamShardQueue.create<Data>({
      servers: server.url,
      subjectOf: (d) => ({ sweep: "s.1", model: d.n === 1 ? "pythia-1.4b" : "gpt2" }),
      ...names,
    });
    await all.publish("x", { n: 1 });
    await all.publish("y", { n: 2 });
    // a work-queue stream takes no second consumer overlapping the first
    const second = JetStreamShardQueue.create<Data>({
      servers: server.url,
      subjectOf,
      ...names,
      durable: "other",
      filterSubject: `${names.subjectPrefix}.*.gpt2`,
    });
    await expect(second).rejects.toMatchObject({
      code: "QUEUE_MISCONFIGURED",
      retryable: false,
      message: expect.stringMatching(/one consumer per subject/),
    });
    const m = (await all.pull(2_000))!;
    expect(m.id).toBe("x");
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage(names.stream!, { seq: 1 });
    expect(stored?.subject).toBe(`${names.subjectPrefix}.s%2E1.pythia-1%2E4b`);
    await nc.close();
    await m.ack();
  });

  it("refuses an existing stream that is not a work queue, naming it", async () => {
    const names = unique();
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: names.stream!,
      subjects: [`${names.subjectPrefix}.>`],
      storage: StorageType.Memory,
      retention: RetentionPolicy.Limits,
    });
    await nc.close();
    await expect(JetStreamShardQueue.create<Data>({ servers: server.url, subjectOf, ...names })).rejects.toMatchObject({
      code: "QUEUE_MISCONFIGURED",
      stream: names.stream,
      message: expect.stringMatching(/retention "limits"/),
    });
  });

  it("terminates, unrun, a message on a subject outside its prefix (another namespace's), telling onMisrouted", async () => {
    const names = unique();
    const foreign = `cna.test.other${names.durable}`;
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      // a stream made to hold more than this queue's subjects
      await jsm.streams.add({
        name: names.stream!,
        subjects: [`${names.subjectPrefix}.>`, `${foreign}.>`],
        storage: StorageType.File,
        retention: RetentionPolicy.Workqueue,
      });
      const misrouted: Array<[string, string]> = [];
      const dead: string[] = [];
      await using q = await JetStreamShardQueue.create<Data>({
        servers: server.url,
        subjectOf,
        ...names,
        onMisrouted: (id, reason) => misrouted.push([id, reason]),
        onDead: (id) => dead.push(id),
      });
      const js = jsm.jetstream();
      await js.publish(`${foreign}.s.m`, JSON.stringify({ n: 1 }), { msgID: "theirs" });
      expect(await q.publish("ours", { n: 2 })).toBe(true);
      const m = (await q.pull(5_000))!;
      expect(m.id).toBe("ours");
      await m.ack();
      expect(misrouted).toEqual([
        [
          "theirs",
          expect.stringMatching(new RegExp(`^message on ${foreign}\\.s\\.m .* outside this queue's subjects`)),
        ],
      ]);
      expect(dead).toEqual([]);
      // terminated: never delivered again
      expect(await q.pull(300)).toBeNull();
      expect(await settledPending(q, { waiting: 0, unacked: 0 })).toEqual({ waiting: 0, unacked: 0 });
    } finally {
      await nc.close();
    }
  });

  it("fails to connect with a retryable QUEUE_UNAVAILABLE error naming the server", async () => {
    const url = server.url.replace(/:\d+$/, ":1"); // nothing listens on port 1
    const err = await JetStreamShardQueue.create<Data>({ servers: url, subjectOf, timeoutMs: 2_000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      name: "QueueUnavailableError",
      code: "QUEUE_UNAVAILABLE",
      retryable: true,
      servers: url,
    });
    expect((err as Error).message).toContain(url);
  });

  it("refuses calls after close()", async () => {
    const q = await JetStreamShardQueue.create<Data>({ servers: server.url, subjectOf, ...unique() });
    await q.close();
    expect(await q.pull(10)).toBeNull();
    await expect(q.publish("a", { n: 1 })).rejects.toMatchObject({ code: "QUEUE_CLOSED" });
  });
});
