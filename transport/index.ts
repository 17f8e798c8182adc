/**
 * transport — the broker side of the seams in core: the NATS JetStream shard queue that the
 * coordinator publishes to and workers pull from (docs/architecture.md decision 3), and the plain HTTP
 * `/metrics` endpoint both deployables serve (decision 9). worker/ and coordinator/ both import
 * it; it imports only core/, the NATS client and node:http.
 *
 * @example
 * ```ts
 * import { JetStreamShardQueue, namespaceNames, subjectToken } from "../transport/index.ts";
 * import type { ShardTask } from "../core/index.ts";
 *
 * // a worker of namespace "prod" that holds one model: its own durable, filtered to that model's shards
 * const { stream, subjectPrefix } = namespaceNames("prod");
 * const queue = await JetStreamShardQueue.create<ShardTask>({
 *   servers: "nats://nats:4222",
 *   credsFile: "/etc/cna/nats.creds",
 *   subjectOf: (t) => ({ sweep: t.sweepId, model: t.cell.model }),
 *   stream,
 *   subjectPrefix,
 *   durable: "cna-workers-arith-2l-d64",
 *   filterSubject: `${subjectPrefix}.*.${subjectToken("arith-2l-d64")}`,
 *   ackWaitMs: 30_000,
 * });
 * const msg = await queue.pull(1_000);  // QueueMessage<ShardTask> | null
 * await queue.close();                  // drains the connection
 * ```
 */
export { JetStreamShardQueue } from "./jetstream.ts";
export { JETSTREAM_DEFAULTS, resolveJetStreamOptions, shardSubject, subjectToken } from "./jetstream-options.ts";
export type { JetStreamAuth, JetStreamOptions, ResolvedJetStreamOptions, ShardSubject } from "./jetstream-options.ts";
export { NAMESPACE_PATTERN, checkNamespace, namespaceNames } from "./namespace.ts";
export type { NamespaceNames } from "./namespace.ts";
export { QueueAuthError, QueueClosedError, QueueConfigError, QueueUnavailableError } from "./errors.ts";
export { serveMetricsText } from "./metrics-http.ts";
export type { MetricsEndpoint, MetricsServer, RenderedMetrics } from "./metrics-http.ts";
