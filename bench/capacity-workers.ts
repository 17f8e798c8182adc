/**
 * The workers of the capacity benchmark's distributed transport, in a process of their own as
 * in a deployment (so the coordinator's event loop is the coordinator's alone): N real
 * ShardWorkers, each with its own NATS connection and gRPC channel, whose stage costs nothing.
 *
 *   node --import tsx bench/capacity-workers.ts NATS_URL STREAM SUBJECT_PREFIX GRPC_ADDRESS WORKERS REPORT_BATCH PULL_BATCH
 *
 * Tells its parent "ready" once every worker pulls; drains and exits 0 on SIGTERM.
 */
import type { ShardTask } from "../core/index.ts";
import { JetStreamShardQueue } from "../transport/index.ts";
import { GrpcResultSink } from "../worker/index.ts";
import { noopPartial, noopWorker } from "./capacity-noop.ts";

const [natsUrl, stream, subjectPrefix, address, count, batch, pullBatch] = process.argv.slice(2);
if (
  !natsUrl ||
  !stream ||
  !subjectPrefix ||
  !address ||
  !Number.isInteger(Number(count)) ||
  !Number.isInteger(Number(batch)) ||
  !Number.isInteger(Number(pullBatch))
) {
  process.stderr.write(
    "usage: capacity-workers.ts NATS_URL STREAM SUBJECT_PREFIX GRPC_ADDRESS WORKERS REPORT_BATCH PULL_BATCH\n",
  );
  process.exit(2);
}
const js = {
  servers: natsUrl,
  stream,
  subjectPrefix,
  subjectOf: (t: ShardTask) => ({ sweep: t.sweepId, model: t.cell.model }),
};
const queues = await Promise.all(
  Array.from({ length: Number(count) }, () =>
    JetStreamShardQueue.create<ShardTask>({ ...js, followConsumer: true, pullBatch: Number(pullBatch) }),
  ),
);
const sinks = queues.map(() => new GrpcResultSink({ address, batchShards: Number(batch) }));
const result = noopPartial();
const workers = queues.map((q, i) => noopWorker(`noop-${i}`, q, sinks[i]!, result));
for (const w of workers) w.start();
process.once("SIGTERM", () => {
  void (async () => {
    await Promise.all(workers.map((w) => w.drain()));
    for (const s of sinks) await s[Symbol.asyncDispose]();
    for (const q of queues) await q.close();
    process.exit(0);
  })();
});
// the parent gone (killed, or crashed before its SIGTERM): nothing will stop these workers otherwise
process.once("disconnect", () => process.exit(1));
process.send?.("ready");
