/**
 * The shard queue on NATS JetStream (docs/architecture.md decision 3): a work-queue stream with file
 * storage, publish with `msgID = id` for dedup, and one durable pull consumer shared by every
 * worker, with explicit ack, `ack_wait`, `max_deliver`, and at most one filter subject
 * (nats-server 2.9).
 *
 * A work-queue stream allows only one consumer per subject: workers that take the same
 * subjects share one durable; a worker that filters differently needs its own durable, and
 * its filter must not overlap any other consumer's (the server refuses the second one).
 *
 * Pulls are raw `CONSUMER.MSG.NEXT` requests for `pullBatch` messages (default 1) with the
 * caller's timeout (the client library's pull helpers cannot wait less than a second), answered
 * on one inbox subscription per queue (a token per pull in the reply subject), so a message that
 * arrives after its pull gave up is recognised and goes to the next pull() rather than waiting
 * out the ack wait. A pull returns the first message its request brings; the rest of a batch
 * arrive as such late messages and wait for the next pull() the same way, each kept alive with
 * working() while it waits (and handed back by close()). Publishes (their PubAck), naks and terms wait for the server's answer on the same
 * inbox; acks and working() do not: a lost ack or heartbeat ends as a redelivery, which is the
 * failure this protocol is built for (a worker acks only what the coordinator stored, so the
 * redelivered shard is reported again and recognised as a duplicate), and a confirmation would
 * cost a message per shard. Calls made while the broker is away wait for the reconnect within
 * `timeoutMs` (pull: within its own timeout) and repeat what was in flight.
 *
 * Where it differs from MemoryShardQueue, because the broker does:
 * - dedup holds for `duplicateWindowMs`, not forever; and after a broker restart nats-server
 *   2.9 remembers only the ids of messages still in the stream, not of those already acked;
 * - pending() counts a nak'd message waiting out its delay as unacked, not waiting;
 * - running out of deliveries is noticed by the server when it next tries to deliver (while
 *   some pull waits), and reported through onDead by every instance that has one; the message
 *   stays in the stream, never delivered again, for inspection;
 * - a late ack or nak from a holder presumed dead is ignored only within this process: from
 *   another process the server (2.9) applies it to the current delivery;
 * - term()'s reason reaches only this process's onDead (2.9 ignores a reason on the wire).
 * A message on a subject outside `<subjectPrefix>.>` (a stream created to hold more than this
 * queue's subjects) is terminated unrun and told through onMisrouted, never returned by pull().
 * A background failure (an exhaustion advisory that could not be resolved to its id) is thrown
 * by the next publish(), pull() or pending().
 */
import { connect, createInbox, credsAuthenticator, headers, nanos } from "@nats-io/transport-node";
import type { Msg, MsgHdrs, NatsConnection, NodeConnectionOptions } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamManager } from "@nats-io/jetstream";
import { readFile } from "node:fs/promises";
import { SpecError } from "../core/index.ts";
import type { QueueMessage, ShardQueue } from "../core/index.ts";
import { QueueClosedError, QueueConfigError, QueueUnavailableError } from "./errors.ts";
import { resolveJetStreamOptions, shardSubject } from "./jetstream-options.ts";
import type { JetStreamOptions, ResolvedJetStreamOptions } from "./jetstream-options.ts";
import { connectFailure, ensureConsumer, ensureStream, failure } from "./jetstream-setup.ts";
import { Link } from "./link.ts";

/** A pull whose answer has not come yet waits this much past its timeout before giving up. */
const LATE_ANSWER_GRACE_MS = 500;

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...`; 2.10+ may add domain and account hash. */
function ackInfo(reply: string | undefined): { seq: number; deliveryCount: number } | null {
  const t = reply?.split(".") ?? [];
  if (t[0] !== "$JS" || t[1] !== "ACK") return null;
  const at = t.length === 9 ? 4 : t.length >= 11 ? 6 : -1;
  const deliveryCount = Number(t[at]);
  const seq = Number(t[at + 1]);
  return Number.isSafeInteger(deliveryCount) && Number.isSafeInteger(seq) ? { seq, deliveryCount } : null;
}

/** deletes in flight at once during a purge */
const PURGE_LANES = 32;

export class JetStreamShardQueue<T> implements ShardQueue<T>, AsyncDisposable {
  /** seq → delivery count of the latest delivery this process handed out and has not settled */
  private readonly held = new Map<number, number>();
  /** answers to pulls that had already given up; served first */
  private readonly late: Msg[] = [];
  /** working() for the messages in `late` while there are any */
  private lateHeartbeat: ReturnType<typeof setInterval> | null = null;
  /** stream sequences of what this queue published, by group (sweep), for purge() */
  private readonly published = new Map<string, Set<number>>();
  /** pulls waiting for an answer: each takes a message (true if it did) or "none" */
  private readonly waiting = new Set<(answer: Msg | "none") => boolean>();
  private readonly advisories = new Set<Promise<void>>();
  private broken: Error | null = null;
  private readonly link: Link;
  private closed = false;
  private readonly where: string;
  private readonly nextSubject: string;
  /** every answer to a pull, a publish, a nak or a term comes to `<inbox>.<token>`; who waits for it, by token */
  private readonly inbox = createInbox();
  private readonly answers = new Map<string, (m: Msg) => void>();
  private tokens = 0;

  private constructor(
    private readonly o: ResolvedJetStreamOptions<T>,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    /** the consumer's max_deliver as the server has it (another instance may have set it) */
    private readonly maxDeliver: number,
    /** the consumer's ack wait as the server had it at connect */
    readonly ackWaitMs: number,
  ) {
    this.where = o.servers.join(", ");
    this.link = new Link(nc);
    this.nextSubject = `$JS.API.CONSUMER.MSG.NEXT.${o.stream}.${o.durable}`;
  }

  /**
   * Connects, creates the stream and the durable consumer when missing (or updates the
   * consumer's ack wait and max deliveries), and listens for max-delivery advisories when
   * `onDead` is set. Throws SpecError for bad options, QueueUnavailableError when the server
   * cannot be reached, QueueConfigError when it refuses the stream or consumer.
   */
  static async create<T>(options: JetStreamOptions<T>): Promise<JetStreamShardQueue<T>> {
    const o = resolveJetStreamOptions(options);
    const where = o.servers.join(", ");
    const nc = await connect(await connectionOptions(o)).catch((err: unknown) => {
      throw connectFailure(where, o as ResolvedJetStreamOptions<unknown>, err);
    });
    try {
      const jsm = await jetstreamManager(nc, { timeout: o.timeoutMs }).catch((err: unknown) => {
        throw failure(where, o.stream, null, `JetStream is not available at ${where}`, err);
      });
      await ensureStream(jsm, o, where);
      const { maxDeliver, ackWaitMs } = await ensureConsumer(jsm, o, where);
      const queue = new JetStreamShardQueue(o, nc, jsm, maxDeliver, ackWaitMs);
      queue.listenForAnswers();
      if (o.onDead) queue.listenForExhaustion();
      await nc.flush(); // the advisory subscription is in place before anything is delivered
      return queue;
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  /** False when a message with this id is already in the duplicate window (a retry after a lost publish ack finds its own first attempt there too). */
  /** JetStream keeps each message's delivery count itself: `priorDeliveries` is not needed. */
  async publish(id: string, data: T, _options?: { priorDeliveries?: number }): Promise<boolean> {
    this.check("publish");
    if (typeof id !== "string" || id === "" || /[\r\n]/.test(id))
      throw new SpecError("id", `a message id must be a non-empty single-line string, got ${JSON.stringify(id)}`);
    const subject = shardSubject(this.o.subjectPrefix, this.o.subjectOf(data));
    const payload = new TextEncoder().encode(JSON.stringify(data));
    const h = headers();
    h.set("Nats-Msg-Id", id); // makes a retry after a lost link harmless
    h.set("Nats-Expected-Stream", this.o.stream);
    // answered on the shared inbox, as pulls and acks are: the stream's PubAck, or its refusal
    const answer = await this.call(`publish of ${id} to ${subject}`, null, (timeout) =>
      this.request(subject, payload, timeout, h),
    );
    const ack = answer.json<{
      seq?: number;
      duplicate?: boolean;
      error?: { code: number; err_code?: number; description: string };
    }>();
    if (ack.error)
      throw new QueueConfigError(
        this.o.stream,
        null,
        `publish of ${id} to ${subject} at ${this.where}: ${ack.error.description} (${ack.error.code}${ack.error.err_code ? `/${ack.error.err_code}` : ""})`,
      );
    // a duplicate's ack names the first copy's sequence, so a restarted publisher learns it too
    if (typeof ack.seq === "number") this.remember(this.o.subjectOf(data).sweep, ack.seq);
    return !ack.duplicate;
  }

  async pull(timeoutMs: number): Promise<QueueMessage<T> | null> {
    this.check("pull");
    const until = Date.now() + Math.max(0, timeoutMs);
    for (;;) {
      let answer: Msg | "none" | "lost" | undefined = this.late.shift();
      if (!answer) {
        if (this.closed || !(await this.link.waitUp(until)) || this.closed) break;
        answer = await this.requestOne(Math.max(1, until - Date.now()));
      }
      if (answer === "none") break;
      if (answer !== "lost") {
        const message = await this.decode(answer);
        if (message) return message;
      }
      if (this.closed || Date.now() >= until) break;
    }
    if (this.nc.isClosed() && !this.closed)
      throw new QueueUnavailableError(this.where, `the connection to ${this.where} closed`);
    await Promise.all(this.advisories); // a give-up the server announced during this pull is reported before it returns
    this.check("pull");
    return null;
  }

  async pending(): Promise<{ waiting: number; unacked: number }> {
    this.check("pending");
    const { stream, durable } = this.o;
    const info = await this.call(`consumer info for ${stream}/${durable}`, durable, () =>
      this.jsm.consumers.info(stream, durable),
    );
    return { waiting: info.num_pending, unacked: info.num_ack_pending };
  }

  /**
   * Deletes the group's messages this publisher published (by their stream sequences, learnt from
   * the publish acks). A filtered stream purge would be one request, but on nats-server 2.9 it
   * makes a work-queue consumer lose the messages of every other group too. JetStream deletes
   * delivered-but-unacked ones as well; their holders' later acks are no-ops, and what they report
   * is the coordinator's to discard.
   */
  async purge(group: string): Promise<number> {
    this.check("purge");
    const seqs = [...(this.published.get(group) ?? [])];
    this.published.delete(group);
    let dropped = 0;
    const lane = async () => {
      for (let seq = seqs.pop(); seq !== undefined; seq = seqs.pop()) {
        // false: already gone (acked, or dropped by the broker)
        const gone = await this.call(`delete of ${this.o.stream} seq ${seq}`, null, () =>
          this.jsm.streams.deleteMessage(this.o.stream, seq, false).catch((err: unknown) => {
            if (/no message found|not found/i.test(String((err as Error).message))) return false;
            throw err;
          }),
        );
        if (gone) dropped++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(PURGE_LANES, seqs.length) }, lane));
    return dropped;
  }

  private remember(group: string, seq: number): void {
    let seqs = this.published.get(group);
    if (!seqs) this.published.set(group, (seqs = new Set()));
    seqs.add(seq);
  }

  /** Gives back messages that arrived after their pull gave up, then drains the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiting) waiter("none");
    if (this.lateHeartbeat) clearInterval(this.lateHeartbeat);
    this.lateHeartbeat = null;
    await Promise.all(this.advisories);
    for (const raw of this.late.splice(0)) if (raw.reply && this.link.connected) this.nc.publish(raw.reply, "-NAK");
    if (this.nc.isClosed()) return;
    // draining needs the server; with the link down (a SIGTERM while NATS is away) there is
    // nothing to drain to, and the connection is simply closed
    if (!this.link.connected) return void (await this.nc.close());
    await this.nc.drain().catch(async () => {
      if (!this.nc.isClosed()) await this.nc.close();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Asks the server for one message: the message; "none" when the request expired (or its
   * answer never came); "lost" when the link went down first, so nothing will come.
   */
  private requestOne(expiresMs: number): Promise<Msg | "none" | "lost"> {
    return new Promise((resolve, reject) => {
      let open = true;
      const watch = this.link.whenDown();
      const done = (answer: Msg | "none" | "lost" | Error) => {
        if (!open) return false;
        open = false;
        clearTimeout(timer);
        watch.cancel();
        this.waiting.delete(waiter);
        if (answer instanceof Error) reject(answer);
        else resolve(answer);
        return true;
      };
      const waiter = (answer: Msg | "none") => done(answer);
      const timer = setTimeout(() => done("none"), expiresMs + LATE_ANSWER_GRACE_MS);
      this.waiting.add(waiter);
      const token = String(++this.tokens);
      // the link went down: the server forgets the pull (an answer that still comes is kept as late)
      void watch.down.then(() => {
        this.answers.delete(token);
        done("lost");
      });
      // the server answers with a message or one status; the rest of a batch come after the
      // token is forgotten, and are kept as late (listenForAnswers)
      this.answers.set(token, (m) => {
        this.answers.delete(token);
        if (ackInfo(m.reply)) {
          if (!done(m)) this.keepLate(m);
          return;
        }
        const status = `${m.headers?.code ?? "?"} ${m.headers?.description ?? ""}`.trim();
        if (/^(408|404|409 Exceeded MaxWaiting|409 Leadership Change)/.test(status)) done("none");
        else if (/^409 Server Shutdown/.test(status)) done("lost");
        else
          done(
            new QueueUnavailableError(
              this.where,
              `pull from ${this.o.stream}/${this.o.durable} at ${this.where} answered ${status}`,
            ),
          );
      });
      this.nc.publish(this.nextSubject, JSON.stringify({ batch: this.o.pullBatch, expires: nanos(expiresMs) }), {
        reply: `${this.inbox}.${token}`,
      });
    });
  }

  /**
   * Routes answers by token. A token is forgotten once answered; a message whose pull is
   * forgotten (its answer came after a reconnect) is kept for the next pull.
   */
  private listenForAnswers(): void {
    const prefix = `${this.inbox}.`;
    this.nc.subscribe(`${prefix}*`, {
      callback: (_err, m) => {
        const answer = this.answers.get(m.subject.slice(prefix.length));
        if (answer) answer(m);
        else if (ackInfo(m.reply)) this.keepLate(m);
      },
    });
  }

  /** A message for a pull that gave up goes to a pull still waiting, or is kept for the next one. */
  private keepLate(m: Msg): void {
    for (const waiter of this.waiting) if (waiter(m)) return;
    this.late.push(m);
    this.lateHeartbeat ??= setInterval(
      () => {
        if (this.late.length === 0 || this.closed) {
          clearInterval(this.lateHeartbeat!);
          this.lateHeartbeat = null;
          return;
        }
        if (this.canSendNow()) for (const raw of this.late) if (raw.reply) this.nc.publish(raw.reply, "+WPI");
      },
      Math.max(50, Math.floor(this.ackWaitMs / 4)),
    );
  }

  /** A QueueMessage, or null when the message is unreadable (then terminated and reported). */
  private async decode(raw: Msg): Promise<QueueMessage<T> | null> {
    const { seq, deliveryCount } = ackInfo(raw.reply)!;
    const id = raw.headers?.get("Nats-Msg-Id") ?? "";
    if (!raw.subject.startsWith(`${this.o.subjectPrefix}.`)) {
      // not this queue's: no puller of this consumer may run it, so it is not handed to the next
      await this.confirm(raw, "+TERM", `term of stream seq ${seq}`);
      this.o.onMisrouted?.(
        id || `${this.o.stream}#${seq}`,
        `message on ${raw.subject} (stream ${this.o.stream} seq ${seq}) is outside this queue's subjects ${this.o.subjectPrefix}.>: another namespace's; terminated unrun`,
      );
      return null;
    }
    let data: T;
    try {
      if (id === "") throw new Error("it has no Nats-Msg-Id header");
      data = JSON.parse(new TextDecoder().decode(raw.data)) as T;
    } catch (err) {
      await this.confirm(raw, "+TERM", `term of stream seq ${seq}`);
      this.o.onDead?.(
        id || `${this.o.stream}#${seq}`,
        `unreadable message (stream seq ${seq}): ${(err as Error).message}`,
      );
      return null;
    }
    this.held.set(seq, deliveryCount);
    let settled = false;
    // only the latest delivery in this process may settle the message (a late ack from a holder
    // presumed dead is ignored, as in MemoryShardQueue)
    const live = () => !settled && this.held.get(seq) === deliveryCount;
    const settle = () => {
      settled = true;
      if (this.held.get(seq) === deliveryCount) this.held.delete(seq);
    };
    return {
      id,
      data,
      deliveryCount,
      ack: async () => {
        if (!live()) return;
        // not confirmed (see the header): a lost ack ends as a redelivery, reported again and deduplicated
        if (this.canSendNow()) this.nc.publish(raw.reply!, "+ACK");
        else await this.confirm(raw, "+ACK", `ack of ${id}`);
        settle();
      },
      nak: async (delayMs = 0) => {
        if (!live()) return;
        await this.confirm(
          raw,
          delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : "-NAK",
          `nak of ${id}`,
        );
        settle();
      },
      working: async () => {
        if (live() && this.canSendNow()) this.nc.publish(raw.reply!, "+WPI");
      },
      term: async (reason: string) => {
        if (!live()) return;
        await this.confirm(raw, "+TERM", `term of ${id}`); // 2.9 ignores "+TERM <reason>": the reason stays here
        settle();
        this.o.onDead?.(id, reason);
      },
    };
  }

  /** An unconfirmed send (ack, heartbeat) goes out now: the link is up and not draining. */
  private canSendNow(): boolean {
    return this.link.connected && !this.nc.isDraining();
  }

  /** Sends an ack-kind reply and waits for the server to confirm it processed it. */
  private async confirm(raw: Msg, body: string, what: string): Promise<void> {
    await this.call(what, this.o.durable, (timeout) => this.request(raw.reply!, body, timeout));
  }

  /** One request answered on the shared inbox (rejects after `timeoutMs`). */
  private request(subject: string, body: string | Uint8Array, timeoutMs: number, h?: MsgHdrs): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const token = String(++this.tokens);
      const timer = setTimeout(() => {
        this.answers.delete(token);
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.answers.set(token, (m) => {
        this.answers.delete(token);
        clearTimeout(timer);
        const code = m.headers?.code ?? 0; // a status, e.g. 503 when nothing listens on the subject
        if (code >= 400) reject(new Error(`answered ${code} ${m.headers?.description ?? ""}`.trim()));
        else resolve(m);
      });
      this.nc.publish(subject, body, { reply: `${this.inbox}.${token}`, ...(h ? { headers: h } : {}) });
    });
  }

  /**
   * Runs one server call within `timeoutMs`: waits for the link when it is down, and tries
   * again when it goes down mid-call (every call here may be repeated: publish carries its
   * msgID, acks and infos are idempotent).
   */
  private async call<R>(what: string, consumer: string | null, attempt: (timeoutMs: number) => Promise<R>): Promise<R> {
    const deadline = Date.now() + this.o.timeoutMs;
    for (;;) {
      if (!(await this.link.waitUp(deadline))) {
        if (this.closed) throw new QueueClosedError(what);
        throw new QueueUnavailableError(
          this.where,
          `${what}: no connection to ${this.where} within ${this.o.timeoutMs} ms`,
        );
      }
      const watch = this.link.whenDown();
      const pending = attempt(Math.max(1, deadline - Date.now()));
      pending.catch(() => {}); // if the link goes down first, this attempt is abandoned and its timeout is moot
      try {
        const outcome = await Promise.race([pending.then((value) => ({ value })), watch.down.then(() => null)]);
        if (outcome) return outcome.value;
      } catch (err) {
        if (this.link.connected || Date.now() >= deadline)
          throw failure(this.where, this.o.stream, consumer, `${what} at ${this.where} failed`, err);
      } finally {
        watch.cancel();
      }
    }
  }

  private listenForExhaustion(): void {
    const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.o.stream}.${this.o.durable}`;
    this.nc.subscribe(subject, {
      callback: (_err, m) => {
        const handled = this.exhausted(m).catch((err: unknown) => {
          this.broken ??= failure(
            this.where,
            this.o.stream,
            this.o.durable,
            `cannot report a message that ran out of deliveries`,
            err,
          );
        });
        this.advisories.add(handled);
        void handled.finally(() => this.advisories.delete(handled));
      },
    });
  }

  /** The server gave a message up; the advisory names it by stream seq, the stream by id. */
  private async exhausted(m: Msg): Promise<void> {
    const { stream_seq: seq, deliveries } = m.json<{ stream_seq: number; deliveries: number }>();
    this.held.delete(seq);
    // not removed from the stream: JetStream keeps it (unacked, never redelivered) for inspection
    const stored = await this.call(`get of stream seq ${seq}`, null, () =>
      this.jsm.streams.getMessage(this.o.stream, { seq }),
    );
    const id = stored?.header.get("Nats-Msg-Id") || `${this.o.stream}#${seq}`;
    this.o.onDead?.(id, `delivered ${deliveries} times (max ${this.maxDeliver}); the server gave it up`);
  }

  /** Throws when closed, or the failure of a background step (an advisory that could not be reported). */
  private check(what: string): void {
    if (this.broken) {
      const err = this.broken;
      this.broken = null;
      throw err;
    }
    if (this.closed && what !== "pull") throw new QueueClosedError(what);
  }
}

async function connectionOptions<T>(o: ResolvedJetStreamOptions<T>): Promise<NodeConnectionOptions> {
  const base: NodeConnectionOptions = {
    servers: o.servers,
    name: o.name,
    timeout: o.timeoutMs,
    maxReconnectAttempts: -1, // a broker restart is an outage to wait out, not a reason to exit
    // no stack captured up front for every request the client makes (stream and consumer
    // management; the per-shard traffic goes through our own inbox): our errors name the call
    // themselves
    noAsyncTraces: true,
  };
  switch (o.auth.kind) {
    case "none":
      return base;
    case "userPass":
      return { ...base, user: o.auth.user, pass: o.auth.pass };
    case "token":
      return { ...base, token: o.auth.token };
    case "creds": {
      const path = o.auth.credsFile;
      const creds = await readFile(path).catch((err: unknown) => {
        throw new SpecError("credsFile", `cannot read credsFile ${path}: ${(err as Error).message}`, err);
      });
      return { ...base, authenticator: credsAuthenticator(new Uint8Array(creds)) };
    }
  }
}
