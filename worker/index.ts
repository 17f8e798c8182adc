/**
 * worker — the GPU-side deployable: checkpoint loading and content digests (worker/model), the
 * ONNX engine (worker/onnx), the analyses (worker/analyses) and the shard runtime
 * (worker/runtime: the pull loop, the model cache, the gRPC result sink, WorkerService, metrics).
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from "../worker/index.ts";
 *
 * const { config, weights, tokenizer, digest } = await loadCheckpoint("models/arith-2l-d64");
 * ```
 */
export {
  BadConfigError,
  BadTokenizerError,
  FLOAT_DTYPES,
  MissingTensorError,
  ModelError,
  ModelNotFoundError,
  SUPPORTED_ARCHITECTURES,
  SafetensorsCorruptError,
  SafetensorsTruncatedError,
  ShapeMismatchError,
  UnexpectedTensorError,
  UnknownDtypeError,
  UnsupportedArchitectureError,
  checkpointFiles,
  digestCheckpoint,
  digestModels,
  loadCheckpoint,
  readModelHeads,
  loadWeights,
  openWeightFiles,
  loadTokenizer,
  openSafetensors,
  parseModelConfig,
  parseSafetensors,
  tensorRows,
  weightBytes,
} from "./model/index.ts";
export type {
  Activation,
  Architecture,
  NormKind,
  RopeScaling,
  Rotary,
  TorchDtype,
  Checkpoint,
  LayerWeights,
  Linear,
  ModelConfig,
  ModelWeights,
  Norm,
  ModelErrorCode,
  ModelTokenizer,
  SafetensorsFile,
  Tensor,
  TensorInfo,
} from "./model/index.ts";

export {
  ModelRunner,
  EngineInputError,
  GRAPH_OUTPUTS,
  availableProviders,
  buildModelGraph,
  defaultWeightCacheDir,
  vocabClasses,
} from "./onnx/index.ts";
export type {
  ForwardRequest,
  ForwardResult,
  GraphOutput,
  Provider,
  RunnerOptions,
  SessionOptions,
} from "./onnx/index.ts";
export {
  ANALYSES,
  DEFAULT_KS,
  DEFAULT_VERIFY_SEED,
  NeuronScorer,
  addTopTokens,
  analyzeCell,
  attribution,
  cna,
  headAblation,
  neuronTopTokens,
  tokenString,
  verify,
} from "./analyses/index.ts";
export type {
  AnalysisCase,
  AnalysisName,
  CellAnalysisOptions,
  CnaCaseScores,
  CnaOptions,
  LayerScores,
  HeadAblationMode,
  ImportanceInputs,
  ImportanceMethod,
  ImportanceOptions,
  TargetRule,
  VerifyOptions,
} from "./analyses/index.ts";
export { ModelCache, ShardWorker, executeShard, shardCases } from "./runtime/index.ts";
export type {
  ExecuteOptions,
  LoadedModel,
  ModelCacheOptions,
  ShardWorkerOptions,
  WorkerEvent,
  WorkerState,
} from "./runtime/index.ts";
export { GrpcResultSink, WorkerMetrics, analyzePrompt, startWorkerServer } from "./runtime/index.ts";
export type {
  AnalyzeRequestView,
  GrpcResultSinkOptions,
  WorkerInfoView,
  WorkerMetricsOptions,
  WorkerMetricsSources,
  WorkerServer,
  WorkerServerOptions,
} from "./runtime/index.ts";
