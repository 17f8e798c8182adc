/**
 * `cna run SWEEP.yaml --nats URL`: the same sweep through the distributed transports — a
 * coordinator serving gRPC on a loopback port, publishing to JetStream, and worker loops that
 * pull from JetStream and report over gRPC — all in this process. The rankings equal the
 * embedded run's; more workers can join from other machines with `cna worker`.
 */
import { Coordinator, startSweepServer } from "../coordinator/index.ts";
import type { SweepState, SweepStatus } from "../coordinator/index.ts";
import type { Rankings, SweepLimits } from "../core/index.ts";
import { GrpcResultSink, ModelCache, ShardWorker, digestCheckpoint, readModelHeads } from "../worker/index.ts";
import type { Provider } from "../worker/index.ts";
import type { FlagValues } from "./args.ts";
import { openShardQueue, tokenOf } from "./connect.ts";
import { modelsOf, withTopTokens } from "./top-tokens.ts";

export interface NatsRunOptions {
  /** the resolved sweep, as JSON text the coordinator parses */
  sweepJson: string;
  source: string;
  dataDir: string;
  workers: number;
  provider: Provider;
  threads: number | undefined;
  flags: FlagValues;
  /** the bounds the in-process coordinator puts on the sweep (cna run's --max-* flags) */
  limits: SweepLimits;
  /** a new sweep even if the same one was submitted with other model files (else MODEL_CHANGED) */
  fresh?: boolean;
  onStatus?: (s: SweepStatus) => void;
  /** told when the sweep resumes with shards already stored */
  onResume?: (s: SweepStatus) => void;
}

export async function runThroughNats(o: NatsRunOptions): Promise<{ state: SweepState; rankings: Rankings; status: SweepStatus }> {
  let coordinator: Coordinator | undefined;
  const publisher = await openShardQueue(o.flags, { onDead: (id, reason) => coordinator?.shardDead(id, reason) });
  coordinator = new Coordinator({ dataDir: o.dataDir, queue: publisher, limits: o.limits, digestModel: digestCheckpoint, modelHeads: readModelHeads, finishRankings: (r, spec) => withTopTokens(r, modelsOf(spec), o.threads) });
  await coordinator.start();
  const token = tokenOf(o.flags);
  const server = await startSweepServer({ backend: coordinator, host: "127.0.0.1", port: 0, ...(token ? { token } : {}) });
  const consumer = await openShardQueue(o.flags);
  const sink = new GrpcResultSink({ address: `127.0.0.1:${server.port}`, ...(token ? { token } : {}) });
  const models = new ModelCache({ provider: o.provider, intraOpThreads: o.threads });
  const workers = Array.from({ length: o.workers }, (_, i) => new ShardWorker(consumer, sink, models, { id: `local-${i}`, pullTimeoutMs: 500 }));
  try {
    for (const w of workers) w.start();
    const view = await coordinator.submit(o.sweepJson, o.source, { fresh: o.fresh ?? false });
    if (view.shardsStored > 0) o.onResume?.(view);
    const id = view.sweepId;
    const state = await new Promise<SweepState>((resolve) => {
      const stop = coordinator!.watch(id, (v) => {
        o.onStatus?.(v);
        if (v.state !== "RUNNING") {
          queueMicrotask(() => stop());
          resolve(v.state);
        }
      });
    });
    return { state, rankings: JSON.parse((await coordinator.rankings(id)).json) as Rankings, status: coordinator.get(id) };
  } finally {
    await Promise.all(workers.map((w) => w.drain()));
    await server.close();
    await sink[Symbol.asyncDispose]();
    await consumer.close();
    await publisher.close();
    await models.close();
    coordinator.close();
  }
}
