/**
 * The shard queue seam (docs/architecture.md convention 2): what the coordinator publishes and workers pull, with
 * JetStream's work-queue semantics — publish dedup by message id, ack, nak with delay,
 * working() to extend the ack deadline, term(), redelivery after the ack wait, and a bounded
 * number of deliveries. `MemoryShardQueue` implements it in process for embedded runs; the
 * JetStream implementation (distributed runs) passes the same contract tests.
 */

export interface QueueMessage<T> {
  /** publish-time id (the shard id): a second publish with the same id is dropped */
  readonly id: string;
  readonly data: T;
  /** 1 on first delivery */
  readonly deliveryCount: number;
  /**
   * done: never delivered again. A broker may apply it a moment after this resolves (JetStream
   * acks are not confirmed), and an ack lost on the way ends as a redelivery, which the
   * coordinator recognises as a duplicate of the result it stored.
   */
  ack(): Promise<void>;
  /** back to the queue, redelivered after `delayMs` */
  nak(delayMs?: number): Promise<void>;
  /** still working: restart the ack-wait clock */
  working(): Promise<void>;
  /** never deliver again */
  term(reason: string): Promise<void>;
}

export interface ShardQueue<T> {
  /**
   * false when a message with this id was already published (dedup). `priorDeliveries`: how
   * often the message was delivered before, in an earlier life of this queue (the coordinator
   * keeps the count in its journal); they count towards the delivery limit. A broker that keeps
   * delivery counts itself (JetStream) ignores it.
   */
  publish(id: string, data: T, options?: { priorDeliveries?: number }): Promise<boolean>;
  /** waits up to `timeoutMs` for a message; null when none came */
  pull(timeoutMs: number): Promise<QueueMessage<T> | null>;
  /**
   * Drops the messages of `group` (a sweep) waiting for delivery, so a cancelled sweep stops
   * costing work. Whether a delivered, unacked one is dropped too is the broker's choice (the
   * in-process queue leaves it with its holder; JetStream drops it); either way its holder's
   * ack is harmless. Resolves with how many were dropped, once the broker has dropped them.
   */
  purge(group: string): Promise<number>;
  /** messages waiting plus delivered-but-unacked, as the broker has them (acks it has not applied yet count as unacked) */
  pending(): Promise<{ waiting: number; unacked: number }>;
  close(): Promise<void>;
}

export interface MemoryQueueOptions<T = unknown> {
  /** redeliver a message not acked, nak'd or marked working within this time (default 30 s) */
  ackWaitMs?: number;
  /** deliveries before a message is dropped as exhausted (default 5) */
  maxDeliver?: number;
  /** told when a message runs out of deliveries, or is terminated */
  onDead?: (id: string, reason: string) => void;
  /** told at each delivery (before the puller sees the message), so the count can be kept across restarts */
  onDeliver?: (id: string, deliveryCount: number) => void;
  /** the group (sweep) of a message, for purge(); without it purge() is refused */
  groupOf?: (data: T) => string;
}

interface Entry<T> {
  id: string;
  data: T;
  deliveries: number;
  notBefore: number;
  /** set while delivered and unacked */
  deadline: number | null;
  done: boolean;
}

export class MemoryShardQueue<T> implements ShardQueue<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly order: Entry<T>[] = [];
  private readonly waiters: Array<() => void> = [];
  private readonly ackWaitMs: number;
  private readonly maxDeliver: number;
  private closed = false;

  constructor(private readonly options: MemoryQueueOptions<T> = {}) {
    this.ackWaitMs = options.ackWaitMs ?? 30_000;
    this.maxDeliver = options.maxDeliver ?? 5;
  }

  async publish(id: string, data: T, options: { priorDeliveries?: number } = {}): Promise<boolean> {
    if (this.entries.has(id)) return false;
    const e: Entry<T> = {
      id,
      data,
      deliveries: options.priorDeliveries ?? 0,
      notBefore: 0,
      deadline: null,
      done: false,
    };
    this.entries.set(id, e);
    if (this.exhausted(e, "delivered before a restart")) return true;
    this.order.push(e);
    this.wake();
    return true;
  }

  async pull(timeoutMs: number): Promise<QueueMessage<T> | null> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (this.closed) return null;
      const e = this.next();
      if (e) return this.deliver(e);
      const wait = Math.min(until, this.nextWakeAt()) - Date.now();
      if (Date.now() >= until) return null;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, wait));
        this.waiters.push(done);
      });
    }
  }

  async pending(): Promise<{ waiting: number; unacked: number }> {
    let waiting = 0;
    let unacked = 0;
    for (const e of this.order) {
      if (e.done) continue;
      if (e.deadline !== null) unacked++;
      else waiting++;
    }
    return { waiting, unacked };
  }

  async purge(group: string): Promise<number> {
    const groupOf = this.options.groupOf;
    if (!groupOf) throw new Error("MemoryShardQueue.purge needs the groupOf option");
    let dropped = 0;
    for (const e of this.order) {
      if (e.done || e.deadline !== null || groupOf(e.data) !== group) continue;
      e.done = true;
      dropped++;
    }
    this.compact();
    return dropped;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake();
  }

  /** The first message ready for delivery; expired deliveries become ready again. */
  private next(): Entry<T> | null {
    const now = Date.now();
    for (const e of this.order) {
      if (e.done) continue;
      if (e.deadline !== null && e.deadline <= now) {
        e.deadline = null; // ack wait expired: the holder is presumed dead
        if (this.exhausted(e, "ack wait expired")) continue;
      }
      if (e.deadline === null && e.notBefore <= now) return e;
    }
    this.compact();
    return null;
  }

  private exhausted(e: Entry<T>, why: string): boolean {
    if (e.deliveries < this.maxDeliver) return false;
    e.done = true;
    this.options.onDead?.(e.id, `delivered ${e.deliveries} times (max ${this.maxDeliver}); last: ${why}`);
    return true;
  }

  private nextWakeAt(): number {
    let at = Infinity;
    for (const e of this.order) {
      if (e.done) continue;
      at = Math.min(at, e.deadline ?? e.notBefore);
    }
    return at;
  }

  private deliver(e: Entry<T>): QueueMessage<T> {
    e.deliveries++;
    e.deadline = Date.now() + this.ackWaitMs;
    this.options.onDeliver?.(e.id, e.deliveries);
    const generation = e.deliveries;
    const live = () => !e.done && e.deliveries === generation && e.deadline !== null;
    return {
      id: e.id,
      data: e.data,
      deliveryCount: e.deliveries,
      ack: async () => {
        if (!live()) return;
        e.done = true;
        e.deadline = null;
      },
      nak: async (delayMs = 0) => {
        if (!live()) return;
        e.deadline = null;
        if (this.exhausted(e, "nak")) return;
        e.notBefore = Date.now() + delayMs;
        this.wake();
      },
      working: async () => {
        if (live()) e.deadline = Date.now() + this.ackWaitMs;
      },
      term: async (reason: string) => {
        if (!live()) return;
        e.done = true;
        e.deadline = null;
        this.options.onDead?.(e.id, reason);
      },
    };
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private compact(): void {
    if (this.order.length > 1024 && this.order.filter((e) => e.done).length > this.order.length / 2) {
      const live = this.order.filter((e) => !e.done);
      this.order.splice(0, this.order.length, ...live);
    }
  }
}
