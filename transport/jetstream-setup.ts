/**
 * Making sure the stream and the durable consumer exist and fit, and classing what the
 * client library throws as retryable (QueueUnavailableError) or terminal (QueueConfigError).
 */
import {
  AuthorizationError,
  InvalidArgumentError,
  InvalidSubjectError,
  PermissionViolationError,
  UserAuthenticationExpiredError,
  nanos,
} from "@nats-io/transport-node";
import { AckPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { ConsumerInfo, JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { QueueAuthError, QueueConfigError, QueueUnavailableError } from "./errors.ts";
import type { JetStreamAuth, ResolvedJetStreamOptions } from "./jetstream-options.ts";

/** What to do about refused credentials, by what was given (the flags are cna's; the fields the options'). */
const AUTH_HINTS: Record<JetStreamAuth["kind"], string> = {
  none: "the server wants credentials and none were given: pass --nats-user with --nats-pass-file (or $CNA_NATS_PASS), --nats-creds FILE, or nats://USER:PASS@HOST:PORT in --nats",
  userPass:
    "the server refused the user and password (--nats-user with --nats-pass-file or $CNA_NATS_PASS, or the user:pass in --nats)",
  token: "the server refused the token",
  creds: "the server refused the credentials in the --nats-creds file",
};

/**
 * The error for a failed connect: NATS_AUTH_FAILED, saying what was given and how to give
 * credentials, when the server refused them (or wants some); otherwise as {@link failure}.
 */
export function connectFailure(where: string, o: ResolvedJetStreamOptions<unknown>, err: unknown): Error {
  const what = `cannot connect to NATS at ${where}`;
  if (err instanceof AuthorizationError || err instanceof UserAuthenticationExpiredError)
    return new QueueAuthError(where, o.auth.kind, `${what}: ${err.message}; ${AUTH_HINTS[o.auth.kind]}`, err);
  return failure(where, o.stream, null, what, err);
}

/**
 * The error to throw for a failed call. Refusals (an API error, rejected credentials or
 * permissions, an invalid payload or subject) are terminal; anything else — timeouts, no
 * responders, lost or refused connections — is the broker being away, which is retryable.
 */
export function failure(where: string, stream: string, consumer: string | null, what: string, err: unknown): Error {
  if (err instanceof QueueConfigError || err instanceof QueueUnavailableError || err instanceof QueueAuthError)
    return err;
  const detail = err instanceof Error ? err.message : String(err);
  const refused =
    err instanceof JetStreamApiError ||
    err instanceof AuthorizationError ||
    err instanceof UserAuthenticationExpiredError ||
    err instanceof PermissionViolationError ||
    err instanceof InvalidArgumentError ||
    err instanceof InvalidSubjectError;
  if (refused) return new QueueConfigError(stream, consumer, `${what}: ${detail}`, err);
  return new QueueUnavailableError(where, `${what}: ${detail}`, err);
}

/** Creates the work-queue stream when missing; an existing one is used as is if it fits. */
export async function ensureStream<T>(
  jsm: JetStreamManager,
  o: ResolvedJetStreamOptions<T>,
  where: string,
): Promise<void> {
  const fail = (what: string, err: unknown) => failure(where, o.stream, null, what, err);
  let info = await streamInfo(jsm, o.stream).catch((err: unknown) => {
    throw fail(`stream info for ${o.stream} at ${where} failed`, err);
  });
  if (!info) {
    const config = {
      name: o.stream,
      subjects: [`${o.subjectPrefix}.>`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: nanos(o.duplicateWindowMs),
    };
    info = await jsm.streams.add(config).catch(async (err: unknown) => {
      // another process may have created it between our info and add; then check theirs
      const theirs = await streamInfo(jsm, o.stream).catch(() => null);
      if (theirs) return theirs;
      throw fail(`cannot create stream ${o.stream} at ${where}`, err);
    });
  }
  const { retention, subjects = [] } = info.config;
  if (retention !== RetentionPolicy.Workqueue) {
    throw new QueueConfigError(
      o.stream,
      null,
      `stream ${o.stream} at ${where} has retention "${retention}"; the shard queue needs a work-queue stream ("workqueue")`,
    );
  }
  if (!subjects.some((s) => covers(s, o.subjectPrefix))) {
    throw new QueueConfigError(
      o.stream,
      null,
      `stream ${o.stream} at ${where} holds ${JSON.stringify(subjects)}, not "${o.subjectPrefix}.>"`,
    );
  }
}

/** The settings of a consumer that the server enforces. */
export interface ConsumerLimits {
  ackWaitMs: number;
  maxDeliver: number;
}

/**
 * Creates the durable pull consumer when missing, or brings its ack wait and max deliveries to
 * ours (the last one to start sets them) unless `followConsumer` is set, which keeps what is
 * there. Returns the ack wait and max deliveries the server enforces.
 */
export async function ensureConsumer<T>(
  jsm: JetStreamManager,
  o: ResolvedJetStreamOptions<T>,
  where: string,
): Promise<ConsumerLimits> {
  const fail = (what: string, err: unknown) => failure(where, o.stream, o.durable, what, err);
  const name = `${o.stream}/${o.durable}`;
  const info = await consumerInfo(jsm, o.stream, o.durable).catch((err: unknown) => {
    throw fail(`consumer info for ${name} at ${where} failed`, err);
  });
  const ackWait = nanos(o.ackWaitMs);
  const limits = (c: { ack_wait?: number; max_deliver?: number }): ConsumerLimits => ({
    ackWaitMs: c.ack_wait === undefined ? o.ackWaitMs : Math.round(c.ack_wait / 1e6),
    maxDeliver: c.max_deliver ?? o.maxDeliver,
  });
  if (!info) {
    const config = {
      durable_name: o.durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ackWait,
      max_deliver: o.maxDeliver,
      ...(o.filterSubject === null ? {} : { filter_subject: o.filterSubject }),
    };
    const added = await jsm.consumers.add(o.stream, config).catch((err: unknown) => {
      const overlap = /workqueue/i.test(err instanceof Error ? err.message : "");
      const why = overlap
        ? " (a work-queue stream allows only one consumer per subject: share the durable, or filter on subjects no other consumer takes)"
        : "";
      throw fail(`cannot create consumer ${name} at ${where}${why}`, err);
    });
    return limits(added.config);
  }
  const c = info.config;
  if (c.ack_policy !== AckPolicy.Explicit || c.deliver_subject) {
    throw new QueueConfigError(
      o.stream,
      o.durable,
      `consumer ${name} at ${where} is not a pull consumer with explicit acks`,
    );
  }
  if ((c.filter_subject || null) !== o.filterSubject) {
    throw new QueueConfigError(
      o.stream,
      o.durable,
      `consumer ${name} at ${where} filters ${JSON.stringify(c.filter_subject || "everything")}, not ${JSON.stringify(o.filterSubject ?? "everything")}: use another durable for another filter`,
    );
  }
  if (o.followConsumer || (c.ack_wait === ackWait && c.max_deliver === o.maxDeliver)) return limits(c);
  const updated = await jsm.consumers
    .update(o.stream, o.durable, { ack_wait: ackWait, max_deliver: o.maxDeliver })
    .catch((err: unknown) => {
      throw fail(`cannot update consumer ${name} at ${where}`, err);
    });
  return limits(updated.config);
}

async function streamInfo(jsm: JetStreamManager, stream: string): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(stream);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return null;
    throw err;
  }
}

async function consumerInfo(jsm: JetStreamManager, stream: string, durable: string): Promise<ConsumerInfo | null> {
  try {
    return await jsm.consumers.info(stream, durable);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return null;
    throw err;
  }
}

/** Whether stream subject `pattern` takes every subject `<prefix>.<anything...>`. */
function covers(pattern: string, prefix: string): boolean {
  const p = pattern.split(".");
  const want = [...prefix.split("."), ">"];
  for (let i = 0; i < want.length; i++) {
    if (p[i] === ">") return true;
    if (i === want.length - 1) return false;
    if (p[i] !== "*" && p[i] !== want[i]) return false;
  }
  return false;
}
