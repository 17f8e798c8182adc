/**
 * worker/runtime — the shard consumer and what it needs: a model cache within a memory budget
 * and the function that runs one shard; the worker's gRPC service and its Prometheus metrics.
 */
export { ModelCache, executeShard, shardCases } from "./execute.ts";
export type { ExecuteOptions, LoadedModel, ModelCacheOptions } from "./execute.ts";
export { ShardWorker } from "./consumer.ts";
export type { ShardWorkerOptions, WorkerEvent, WorkerState } from "./consumer.ts";
export { GrpcResultSink } from "./grpc-sink.ts";
export type { GrpcResultSinkOptions, ReportedOutcome } from "./grpc-sink.ts";
export { startWorkerServer } from "./grpc-server.ts";
export type { AnalyzeRequestView, WorkerInfoView, WorkerServer, WorkerServerOptions } from "./grpc-server.ts";
export { analyzePrompt } from "./analyze-prompt.ts";
export { WorkerMetrics, graphKind, resolveWorkerMetricsOptions } from "./metrics.ts";
export type { ResolvedWorkerMetricsOptions, WorkerMetricsOptions, WorkerMetricsSources } from "./metrics.ts";
