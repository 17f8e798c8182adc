/**
 * A local run: one sweep, a coordinator and N workers in this process (docs/architecture.md decision 7).
 * It is the coordinator and workers of startCoordinator and startWorker, joined by a transport:
 * the in-process queue and a direct sink (embedded), or NATS JetStream and gRPC on a loopback
 * port, as on a cluster. Same planner, engine, merge and store either way, so the rankings are
 * the same bytes.
 */
import { rm } from "node:fs/promises";
import { SpecError } from "../core/index.ts";
import type { Logger, Provider, Rankings, SweepLimits } from "../core/index.ts";
import type { SweepEvent, SweepState, SweepView } from "../coordinator/index.ts";
import type { WorkerEvent } from "../worker/index.ts";
import { startCoordinator } from "./coordinator.ts";
import { RunClosedError } from "./errors.ts";
import type { RunningCoordinator } from "./coordinator.ts";
import { resolveNatsOptions } from "./nats.ts";
import type { NatsOptions, ResolvedNatsOptions } from "./nats.ts";
import { integerField, providerField } from "./options.ts";
import type { Notice } from "./options.ts";
import { resolvedSweepJson } from "./sweep-file.ts";
import type { PreparedSweep } from "./sweep-file.ts";
import { startWorker } from "./worker.ts";
import type { RunningWorker, WorkerActivity } from "./worker.ts";

/** `memory`: the in-process queue and a direct sink; `nats`: JetStream for shards, gRPC (with `token`, when given) for results. */
export type LocalTransport = { kind: "memory" } | { kind: "nats"; nats: NatsOptions; token?: string };

export interface LocalRunOptions {
  /** the sweep, read and checked (readSweepFile, then prepareSweep); required */
  sweep: PreparedSweep;
  /** the coordinator's data directory; running again on the same one resumes (required) */
  dataDir: string;
  /** discard what dataDir holds and start over (default false; needed once a model's files changed) */
  fresh?: boolean;
  /** worker loops (default 2) */
  workers?: number;
  /** default: the sweep file's execution.provider */
  provider?: Provider;
  /** ONNX Runtime threads per operator (default: one per core) */
  threads?: number;
  /** default `{ kind: "memory" }` */
  transport?: LocalTransport;
  /** a worker silent this long loses its shard (default 60 000) */
  ackWaitMs?: number;
  /** deliveries of a shard before it is quarantined (default: the sweep file's shard.maxAttempts) */
  maxDeliver?: number;
  /** the coordinator's bounds on the sweep (default DEFAULT_SWEEP_LIMITS) */
  limits?: Partial<SweepLimits>;
  /** the operator's log of the coordinator and the workers (default: none) */
  log?: Logger;
  onSweepEvent?: (e: SweepEvent) => void;
  onWorkerEvent?: (workerId: string, e: WorkerEvent) => void;
  onNotice?: (n: Notice) => void;
}

export interface ResolvedLocalRunOptions {
  sweep: PreparedSweep;
  dataDir: string;
  fresh: boolean;
  workers: number;
  provider: Provider;
  threads: number | undefined;
  transport: { kind: "memory" } | { kind: "nats"; nats: ResolvedNatsOptions; token: string | null };
  ackWaitMs: number;
  maxDeliver: number;
  limits: Partial<SweepLimits>;
  log: Logger | null;
  onSweepEvent: (e: SweepEvent) => void;
  onWorkerEvent: (workerId: string, e: WorkerEvent) => void;
  onNotice: ((n: Notice) => void) | null;
}

export function resolveLocalRunOptions(o: LocalRunOptions): ResolvedLocalRunOptions {
  if (!o.sweep?.plan || !o.sweep.spec)
    throw new SpecError("sweep", "sweep must be a prepared sweep (readSweepFile, then prepareSweep)");
  if (typeof o.dataDir !== "string" || o.dataDir === "")
    throw new SpecError("dataDir", "dataDir must name the run's data directory");
  const t = o.transport ?? { kind: "memory" };
  return {
    sweep: o.sweep,
    dataDir: o.dataDir,
    fresh: o.fresh ?? false,
    workers: integerField("workers", o.workers, 1, 2),
    provider: providerField("provider", o.provider, o.sweep.spec.execution.provider),
    threads: o.threads === undefined ? undefined : integerField("threads", o.threads, 1, 1),
    transport:
      t.kind === "nats"
        ? { kind: "nats", nats: resolveNatsOptions("transport.nats", t.nats), token: t.token ?? null }
        : { kind: "memory" },
    ackWaitMs: integerField("ackWaitMs", o.ackWaitMs, 1, 60_000),
    maxDeliver: integerField("maxDeliver", o.maxDeliver, 1, o.sweep.spec.shard.maxAttempts),
    limits: o.limits ?? {},
    log: o.log ?? null,
    onSweepEvent: o.onSweepEvent ?? (() => undefined),
    onWorkerEvent: o.onWorkerEvent ?? (() => undefined),
    onNotice: o.onNotice ?? null,
  };
}

export interface LocalRunResult {
  state: SweepState;
  /** the final rankings, each listed neuron with its top tokens */
  rankings: Rankings;
  status: SweepView;
}

/** A started local run; `close()` (or `await using`) drains the workers and stops the coordinator. */
export interface LocalRun extends AsyncDisposable {
  readonly options: ResolvedLocalRunOptions;
  readonly sweepId: string;
  /** the sweep as it stood when submitted: `shardsStored` > 0 when it resumed stored work */
  readonly submitted: SweepView;
  readonly coordinator: RunningCoordinator;
  readonly workers: RunningWorker;
  status(): SweepView;
  activity(): WorkerActivity;
  /**
   * Resolves once the sweep has finished (succeeded, failed or been cancelled), with its
   * rankings; rejects with RunClosedError when the run is closed first (await it before closing).
   */
  finished(): Promise<LocalRunResult>;
  close(): Promise<void>;
}

export async function runLocal(options: LocalRunOptions): Promise<LocalRun> {
  const o = resolveLocalRunOptions(options);
  if (o.fresh) await rm(o.dataDir, { recursive: true, force: true });
  const t = o.transport;
  const onNotice = o.onNotice ?? undefined;
  const coordinator = await startCoordinator({
    dataDir: o.dataDir,
    // through NATS, results come back over gRPC on a loopback port, as from a cluster's workers
    ...(t.kind === "nats"
      ? {
          transport: { kind: "nats", nats: t.nats },
          listen: { host: "127.0.0.1", port: 0 },
          ...(t.token !== null ? { token: t.token } : {}),
        }
      : { listen: null }),
    ackWaitMs: o.ackWaitMs,
    maxDeliver: o.maxDeliver,
    limits: o.limits,
    // only this run's sweep: not every unfinished one an earlier run on this directory left;
    // and its rankings merged by this code, as the caller writes them (not a file of an earlier run)
    resumeAtStart: false,
    keepRankings: false,
    ...(o.log ? { log: o.log } : {}),
    onSweepEvent: (_sweep, e) => o.onSweepEvent(e),
    ...(onNotice ? { onNotice } : {}),
  });
  let submitted: SweepView;
  let workers: RunningWorker;
  try {
    // planned (and stored shards found) before any worker pulls, so a resume is told as it was
    submitted = await coordinator.coordinator.submit(resolvedSweepJson(o.sweep.spec), o.sweep.source, {
      fresh: o.fresh,
      previousLabel: `sweep in ${o.dataDir}`,
    });
    workers = await startWorker({
      id: "local",
      loops: o.workers,
      provider: o.provider,
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      transport:
        t.kind === "nats"
          ? {
              kind: "nats",
              nats: t.nats,
              coordinator: coordinator.address!,
              client: t.token !== null ? { token: t.token } : {},
            }
          : { kind: "memory", ...coordinator.inProcess! },
      pullTimeoutMs: t.kind === "nats" ? 500 : 200,
      onWorkerEvent: o.onWorkerEvent,
      ...(o.log ? { log: o.log } : {}),
      ...(onNotice ? { onNotice } : {}),
    });
  } catch (err) {
    await coordinator.close();
    throw err;
  }
  const backend = coordinator.coordinator;
  const id = submitted.sweepId;
  let result: Promise<LocalRunResult> | undefined;
  let closing: Promise<void> | undefined;
  const onClose: Array<() => void> = [];
  const close = () =>
    (closing ??= (async () => {
      for (const f of onClose) f();
      await workers.close();
      await coordinator.close();
    })());
  const finished = async (): Promise<LocalRunResult> => {
    let unwatch: (() => void) | undefined;
    let state: SweepState;
    try {
      state = await new Promise<SweepState>((resolve, reject) => {
        if (closing) return reject(new RunClosedError(id, o.dataDir));
        onClose.push(() => reject(new RunClosedError(id, o.dataDir)));
        unwatch = backend.watch(id, (v) => v.state !== "RUNNING" && resolve(v.state));
      });
    } finally {
      unwatch?.();
    }
    const { json } = await backend.rankings(id);
    return { state, rankings: JSON.parse(json) as Rankings, status: backend.get(id) };
  };
  return {
    options: o,
    sweepId: id,
    submitted,
    coordinator,
    workers,
    status: () => backend.get(id),
    activity: () => workers.activity(),
    finished: () => (result ??= finished()),
    close,
    [Symbol.asyncDispose]: close,
  };
}
