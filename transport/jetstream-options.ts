/**
 * Options of the JetStream shard queue: raw {@link JetStreamOptions} → validated, with defaults,
 * {@link ResolvedJetStreamOptions} (docs/architecture.md convention 4), plus the subject scheme
 * `<prefix>.<sweep>.<model>` that workers filter on.
 */
import { SpecError, describeValue } from "../core/index.ts";

/** Where a message goes: its subject is `<subjectPrefix>.<sweep>.<model>` (tokens encoded). */
export interface ShardSubject {
  sweep: string;
  model: string;
}

export interface JetStreamOptions<T> {
  /**
   * server URL(s), `nats://host:port` or `tls://host:port` (required); `nats://user:pass@host:port`
   * gives a user and password (URL-encoded), the same in every URL, instead of `user`/`pass`
   */
  servers: string | readonly string[];
  /** user and password; or `token`; or `credsFile` (a NATS .creds file) — at most one of the three */
  user?: string;
  pass?: string;
  token?: string;
  credsFile?: string;
  /** connection name shown in the server's monitoring (default "cna-sweep") */
  name?: string;
  /** stream name (default "CNA_SHARDS") */
  stream?: string;
  /** the stream holds `<subjectPrefix>.>` (default "cna.shards") */
  subjectPrefix?: string;
  /** which sweep and model a message is for; its subject is built from them (required) */
  subjectOf: (data: T) => ShardSubject;
  /** durable pull consumer shared by the workers (default "cna-workers") */
  durable?: string;
  /**
   * one subject under the prefix this consumer takes, e.g. `cna.shards.*.arith-2l-d64`
   * (default: all). nats-server 2.9 allows one filter per consumer, and a work-queue stream
   * allows no two consumers whose subjects overlap: a different filter needs its own durable.
   */
  filterSubject?: string;
  /** redeliver a message not acked, nak'd or marked working within this time (default 30 s) */
  ackWaitMs?: number;
  /** deliveries before the server gives a message up (default 5) */
  maxDeliver?: number;
  /**
   * true: an existing consumer keeps its ack wait and max deliveries (ackWaitMs and maxDeliver
   * apply only when this creates it), so workers follow what the coordinator set (default false:
   * the consumer is brought to ours)
   */
  followConsumer?: boolean;
  /**
   * a second publish of the same id within this window is dropped (default 10 min: long
   * enough for a restarted coordinator to republish what is still queued without doubling it)
   */
  duplicateWindowMs?: number;
  /** how long connecting, one API call or one ack may take (default 5 s) */
  timeoutMs?: number;
  /**
   * messages one pull request asks the server for (default 1). Above 1, the ones past the first
   * wait in this process for the next pull() (held with working() meanwhile), so a busy worker
   * pays one round trip for several shards; each waiting one is a shard no other worker can take.
   */
  pullBatch?: number;
  /** told when a message runs out of deliveries, or is terminated by this process */
  onDead?: (id: string, reason: string) => void;
  /**
   * told when a pull gets a message on a subject outside `<subjectPrefix>.>` (a stream that
   * holds more than this queue's subjects: another namespace's shard); it is terminated, not
   * returned, and onDead is not told
   */
  onMisrouted?: (id: string, reason: string) => void;
}

export type JetStreamAuth =
  | { kind: "none" }
  | { kind: "userPass"; user: string; pass: string }
  | { kind: "token"; token: string }
  | { kind: "creds"; credsFile: string };

export interface ResolvedJetStreamOptions<T> {
  servers: string[];
  auth: JetStreamAuth;
  name: string;
  stream: string;
  subjectPrefix: string;
  subjectOf: (data: T) => ShardSubject;
  durable: string;
  filterSubject: string | null;
  ackWaitMs: number;
  maxDeliver: number;
  followConsumer: boolean;
  duplicateWindowMs: number;
  timeoutMs: number;
  pullBatch: number;
  onDead: ((id: string, reason: string) => void) | null;
  onMisrouted: ((id: string, reason: string) => void) | null;
}

export const JETSTREAM_DEFAULTS = {
  name: "cna-sweep",
  stream: "CNA_SHARDS",
  subjectPrefix: "cna.shards",
  durable: "cna-workers",
  ackWaitMs: 30_000,
  maxDeliver: 5,
  duplicateWindowMs: 600_000,
  timeoutMs: 5_000,
  pullBatch: 1,
} as const;

/** Validates `options` and fills in defaults; throws a SpecError naming the first bad field. */
export function resolveJetStreamOptions<T>(options: JetStreamOptions<T>): ResolvedJetStreamOptions<T> {
  const d = JETSTREAM_DEFAULTS;
  const subjectPrefix = subjectField("subjectPrefix", options.subjectPrefix ?? d.subjectPrefix, false);
  const filterSubject = options.filterSubject === undefined ? null : filterField(options.filterSubject, subjectPrefix);
  if (typeof options.subjectOf !== "function")
    throw new SpecError(
      "subjectOf",
      `subjectOf must be a function (data) => { sweep, model }, got ${describeValue(options.subjectOf)}`,
    );
  for (const field of ["onDead", "onMisrouted"] as const)
    if (options[field] !== undefined && typeof options[field] !== "function")
      throw new SpecError(
        field,
        `${field} must be a function (id, reason) => void, got ${describeValue(options[field])}`,
      );
  const servers = serversField(options.servers);
  return {
    servers: servers.map((x) => x.url),
    auth: authField(options, servers),
    name: textField("name", options.name ?? d.name),
    stream: nameField("stream", options.stream ?? d.stream),
    subjectPrefix,
    subjectOf: options.subjectOf,
    durable: nameField("durable", options.durable ?? d.durable),
    filterSubject,
    ackWaitMs: intField("ackWaitMs", options.ackWaitMs ?? d.ackWaitMs, 1),
    maxDeliver: intField("maxDeliver", options.maxDeliver ?? d.maxDeliver, 1),
    followConsumer: boolField("followConsumer", options.followConsumer ?? false),
    duplicateWindowMs: intField("duplicateWindowMs", options.duplicateWindowMs ?? d.duplicateWindowMs, 1),
    timeoutMs: intField("timeoutMs", options.timeoutMs ?? d.timeoutMs, 1),
    pullBatch: intField("pullBatch", options.pullBatch ?? d.pullBatch, 1),
    onDead: options.onDead ?? null,
    onMisrouted: options.onMisrouted ?? null,
  };
}

/**
 * A subject token for any text: characters other than `A-Z a-z 0-9 _ -` become `%XX` per UTF-8
 * byte, so `pythia-1.4b` → `pythia-1%2E4b`. Build filter subjects with it.
 */
export function subjectToken(text: string): string {
  if (text === "") throw new SpecError("subject", "a subject token cannot be empty");
  let out = "";
  for (const ch of text) {
    if (/^[A-Za-z0-9_-]$/.test(ch)) out += ch;
    else for (const byte of new TextEncoder().encode(ch)) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** `<prefix>.<sweep>.<model>`, tokens encoded with {@link subjectToken}. */
export function shardSubject(prefix: string, to: ShardSubject): string {
  return `${prefix}.${subjectToken(to.sweep)}.${subjectToken(to.model)}`;
}

/** A server URL without its credentials, and the user and password it carried (`nats://user:pass@host:port`). */
interface ServerUrl {
  url: string;
  user: string | null;
  pass: string | null;
}

/**
 * `user:pass@` in a URL is taken as the user and password, and cut from the URL, which is then
 * safe to print: the client library would neither send it nor keep it out of its errors.
 */
function serversField(value: unknown): ServerUrl[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0)
    throw new SpecError("servers", `servers must be a URL or a non-empty list of URLs, got ${describeValue(value)}`);
  return list.map((url: unknown) => {
    if (typeof url !== "string" || url === "" || /\s/.test(url))
      throw new SpecError("servers", `servers: ${describeValue(url)} is not a server URL (nats://host:port)`);
    const m = /^([a-z][a-z0-9+.-]*:\/\/)?([^@/]*)@(.*)$/i.exec(url);
    const bare = m ? `${m[1] ?? ""}${m[3]}` : url;
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(bare)?.[1]?.toLowerCase();
    if (scheme !== undefined && scheme !== "nats" && scheme !== "tls")
      throw new SpecError("servers", `servers: ${JSON.stringify(bare)} has scheme "${scheme}"; use "nats" or "tls"`);
    if (!m) return { url, user: null, pass: null };
    const colon = m[2]!.indexOf(":");
    const decode = (text: string) => {
      try {
        return decodeURIComponent(text);
      } catch {
        throw new SpecError("servers", `servers: the credentials in ${JSON.stringify(bare)} are not URL-encoded`);
      }
    };
    const user = decode(colon < 0 ? m[2]! : m[2]!.slice(0, colon));
    const pass = colon < 0 ? null : decode(m[2]!.slice(colon + 1));
    if (user === "" || pass === null || pass === "")
      throw new SpecError("servers", `servers: ${JSON.stringify(bare)} needs both a user and a password before "@"`);
    return { url: bare, user, pass };
  });
}

function authField<T>(o: JetStreamOptions<T>, servers: readonly ServerUrl[]): JetStreamAuth {
  const inUrl = servers.find((x) => x.user !== null);
  if (inUrl) {
    if (servers.some((x) => x.user !== inUrl.user || x.pass !== inUrl.pass))
      throw new SpecError("servers", "servers: every URL must carry the same user and password, or none");
    if (o.user !== undefined || o.pass !== undefined || o.token !== undefined || o.credsFile !== undefined)
      throw new SpecError("servers", "servers carry a user and password; give no other credentials with them");
    return { kind: "userPass", user: inUrl.user!, pass: inUrl.pass! };
  }
  const given = (["user", "pass", "token", "credsFile"] as const).filter((k) => o[k] !== undefined);
  for (const k of given) textField(k, o[k]);
  const methods = new Set(given.map((k) => (k === "pass" ? "user" : k)));
  if (methods.size > 1)
    throw new SpecError(
      given[given.length - 1]!,
      `give one of user/pass, token or credsFile, not ${[...methods].join(" and ")}`,
    );
  if (o.user !== undefined && o.pass === undefined) throw new SpecError("pass", "user is set but pass is not");
  if (o.pass !== undefined && o.user === undefined) throw new SpecError("user", "pass is set but user is not");
  if (o.user !== undefined && o.pass !== undefined) return { kind: "userPass", user: o.user, pass: o.pass };
  if (o.token !== undefined) return { kind: "token", token: o.token };
  if (o.credsFile !== undefined) return { kind: "creds", credsFile: o.credsFile };
  return { kind: "none" };
}

function textField(field: string, value: unknown): string {
  if (typeof value !== "string" || value === "")
    throw new SpecError(field, `${field} must be a non-empty string, got ${describeValue(value)}`);
  return value;
}

/** Stream and consumer names: they become subject tokens of the JetStream API. */
function nameField(field: string, value: unknown): string {
  const name = textField(field, value);
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(name))
    throw new SpecError(
      field,
      `${field} ${JSON.stringify(name)} may hold only A-Z, a-z, 0-9, "_" and "-" (at most 200 characters)`,
    );
  return name;
}

function boolField(field: string, value: unknown): boolean {
  if (typeof value !== "boolean")
    throw new SpecError(field, `${field} must be true or false, got ${describeValue(value)}`);
  return value;
}

function intField(field: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min)
    throw new SpecError(field, `${field} must be an integer ≥ ${min}, got ${describeValue(value)}`);
  return value;
}

function subjectField(field: string, value: unknown, wildcards: boolean): string {
  const subject = textField(field, value);
  const tokens = subject.split(".");
  tokens.forEach((t, i) => {
    const wild = t === "*" || (t === ">" && i === tokens.length - 1);
    if (wild && wildcards) return;
    if (t === "" || /[\s*>]/.test(t))
      throw new SpecError(
        field,
        `${field} ${JSON.stringify(subject)} is not a valid subject${wildcards ? "" : " without wildcards"} (token ${i + 1} is ${JSON.stringify(t)})`,
      );
  });
  return subject;
}

/** One subject under the prefix: `<prefix>.<sweep|*>.<model|*>` or `<prefix>.<sweep|*>.>`/`<prefix>.>`. */
function filterField(value: unknown, prefix: string): string {
  const filter = subjectField("filterSubject", value, true);
  const rest = filter.startsWith(`${prefix}.`) ? filter.slice(prefix.length + 1).split(".") : [];
  const fits = (rest.length === 2 || (rest.length === 1 && rest[0] === ">")) && rest.every((t) => t !== "");
  if (!fits)
    throw new SpecError(
      "filterSubject",
      `filterSubject ${JSON.stringify(filter)} must be "${prefix}.<sweep>.<model>" (either may be "*") or "${prefix}.<sweep>.>"`,
    );
  return filter;
}
