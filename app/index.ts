/**
 * app — the composition roots, and the package's public API (`import { runLocal } from
 * "cna-sweep"`): one per process kind, each taking one options object and returning a started,
 * disposable thing. `startCoordinator` (store, queue, Coordinator, gRPC SweepService, metrics),
 * `startWorker` (queue, result sink, ModelCache, ShardWorkers, WorkerService, metrics) and
 * `runLocal` (a coordinator and N workers in this process, through the in-process queue or NATS
 * JetStream + gRPC). The `cna` command (cli/) only parses flags into these options, calls them
 * and prints.
 *
 * @example
 * ```ts
 * import { prepareSweep, readSweepFile, runLocal } from "cna-sweep";
 *
 * const sweep = await prepareSweep(readSweepFile("examples/zoo-quick.yaml"), { source: "zoo-quick.yaml" });
 * await using run = await runLocal({ sweep, dataDir: "out/state", workers: 2 });
 * const { state, rankings } = await run.finished();
 * console.log(state, rankings.cells[0]?.heads?.[0]);
 * ```
 */
export { COORDINATOR_DEFAULTS, resolveCoordinatorOptions, startCoordinator } from "./coordinator.ts";
export type {
  CoordinatorOptions,
  CoordinatorTransport,
  ResolvedCoordinatorOptions,
  RunningCoordinator,
} from "./coordinator.ts";
export { resolveWorkerOptions, startWorker } from "./worker.ts";
export type { ResolvedWorkerOptions, RunningWorker, WorkerActivity, WorkerOptions, WorkerTransport } from "./worker.ts";
export { resolveLocalRunOptions, runLocal } from "./local.ts";
export type { LocalRun, LocalRunOptions, LocalRunResult, LocalTransport, ResolvedLocalRunOptions } from "./local.ts";
export { prepareSweep, readSweepFile, resolvedSweepJson } from "./sweep-file.ts";
export type { PreparedSweep } from "./sweep-file.ts";
export { DEFAULT_CONNECT_TIMEOUT_MS, namespaceOfDataDir } from "./nats.ts";
export { NAMESPACE_PATTERN, checkNamespace } from "../transport/index.ts";
export type { NatsOptions, ResolvedNatsOptions } from "./nats.ts";
export type { HostPort, Notice } from "./options.ts";
export { NamespaceMismatchError, RunClosedError, StartAbortedError } from "./errors.ts";
export { buildInfo, packageDir } from "./version.ts";
export type { BuildInfo } from "./version.ts";

// what a caller of the above needs to read its results and its failures
export { CnaError, DEFAULT_SWEEP_LIMITS, RANKINGS_SCHEMA, SpecError, errorInfo } from "../core/index.ts";
export type {
  AttributionRankings,
  CellKey,
  CellRankings,
  ErrorInfo,
  HeadRank,
  HeadRankingBasis,
  ImportanceRank,
  NeuronRank,
  Provider,
  Rankings,
  ShardQueue,
  ShardTask,
  ResultSink,
  SweepLimits,
  SweepSpec,
  VerificationPoint,
  VerificationRankings,
} from "../core/index.ts";
export type { PlanSpec, SweepEvent, SweepState, SweepStatus, SweepView } from "../coordinator/index.ts";
// `cna gc`: old finished sweeps out of a data directory (no coordinator running on it, or its --retention)
export { collectSweeps } from "../coordinator/index.ts";
export type { CollectedSweep, CollectOptions, CollectResult } from "../coordinator/index.ts";
export type { WorkerEvent } from "../worker/index.ts";
export type { GrpcClientOptions, TlsClientOptions, TlsServerOptions } from "../proto/index.ts";
