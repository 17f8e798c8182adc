/**
 * WorkerService over gRPC: Describe, Analyze (one prompt on this worker's engine) and Drain,
 * plus grpc.health.v1 and reflection, with the same TLS and bearer-token rules as the
 * coordinator (proto/server.ts). The worker supplies the three operations on domain values;
 * wire messages are converted here and go no further.
 *
 * @example
 * ```ts
 * await using server = await startWorkerServer({
 *   describe: () => ({ id: "w1", state: worker.status, provider: "cpu", modelsLoaded: [], inFlight: worker.inFlight, version,
 *     resultFormatVersion: RESULT_FORMAT_VERSION, executionProviders: availableProviders() }),
 *   analyze: (req) => runOnePrompt(req),
 *   drain: () => worker.drain(),
 *   port: 7071,
 *   token,
 * });
 * ```
 */
import {
  resolveGrpcServeOptions,
  serveGrpc,
  unaryHandler,
  Analysis,
  BadRequestError,
  WorkerServiceService,
  WorkerState as WireWorkerState,
} from "../../proto/index.ts";
import type {
  AnalyzeRequest,
  GrpcServeOptions,
  GrpcServerHandle,
  WorkerInfo,
  WorkerServiceServer,
} from "../../proto/index.ts";
import type { AnalysisName } from "../analyses/index.ts";
import type { WorkerState } from "./consumer.ts";
import type { HeadRef } from "../../core/index.ts";

/** What Describe shows. */
export interface WorkerInfoView {
  id: string;
  state: WorkerState;
  /** ONNX execution provider in use: "cpu" or "cuda" */
  provider: string;
  /** names of the models held in memory */
  modelsLoaded: string[];
  inFlight: number;
  /** the cna-sweep package version */
  version: string;
  /** the git commit it was built from, when known */
  commit?: string;
  resultFormatVersion: number;
  /** what this ONNX Runtime build offers (see availableProviders) */
  executionProviders: string[];
}

/** One prompt to analyse, validated. */
export interface AnalyzeRequestView {
  modelPath: string;
  prompt: string;
  /** the answer token to score; absent: the model's prediction */
  targetToken?: string;
  analysis: AnalysisName;
  /** cna and verify: the head ablated */
  head?: HeadRef;
}

export interface WorkerServerOptions extends GrpcServeOptions {
  readonly describe: () => WorkerInfoView;
  /** the analysis's result as JSON text */
  readonly analyze: (request: AnalyzeRequestView) => Promise<string>;
  /** resolves once shards in flight have been reported */
  readonly drain: () => Promise<void>;
}

export type WorkerServer = GrpcServerHandle;

const STATE: Record<WorkerState, WireWorkerState> = {
  INITIALIZED: WireWorkerState.WORKER_STATE_INITIALIZED,
  RUNNING: WireWorkerState.WORKER_STATE_RUNNING,
  DRAINING: WireWorkerState.WORKER_STATE_DRAINING,
  STOPPED: WireWorkerState.WORKER_STATE_STOPPED,
  FAILED: WireWorkerState.WORKER_STATE_FAILED,
};

const ANALYSIS: Partial<Record<Analysis, AnalysisName>> = {
  [Analysis.ANALYSIS_HEAD_ABLATION]: "head-ablation",
  [Analysis.ANALYSIS_ATTRIBUTION]: "attribution",
  [Analysis.ANALYSIS_CNA]: "cna",
  [Analysis.ANALYSIS_VERIFY]: "verify",
};

export async function startWorkerServer(options: WorkerServerOptions): Promise<WorkerServer> {
  const { describe, analyze, drain, ...serve } = options;
  const implementation: WorkerServiceServer = {
    describe: unaryHandler(() => toWorkerInfo(describe())),
    analyze: unaryHandler(async (req) => ({ json: await analyze(fromAnalyzeRequest(req)) })),
    drain: unaryHandler(async () => {
      await drain();
      return { state: STATE[describe().state] };
    }),
  };
  return serveGrpc(resolveGrpcServeOptions(serve), [
    {
      name: "cna.v1.WorkerService",
      protoFile: "cna/v1/worker.proto",
      definition: WorkerServiceService,
      implementation,
    },
  ]);
}

function toWorkerInfo(v: WorkerInfoView): WorkerInfo {
  return {
    id: v.id,
    state: STATE[v.state],
    provider: v.provider,
    modelsLoaded: v.modelsLoaded,
    inFlight: v.inFlight,
    version: v.version,
    commit: v.commit ?? "",
    resultFormatVersion: v.resultFormatVersion,
    executionProviders: v.executionProviders,
  };
}

function fromAnalyzeRequest(m: AnalyzeRequest): AnalyzeRequestView {
  if (m.modelPath.trim() === "") throw new BadRequestError("model_path", "must not be empty");
  if (m.prompt === "") throw new BadRequestError("prompt", "must not be empty");
  const analysis = ANALYSIS[m.analysis];
  if (analysis === undefined)
    throw new BadRequestError(
      "analysis",
      `must be one of ANALYSIS_HEAD_ABLATION, ANALYSIS_ATTRIBUTION, ANALYSIS_CNA or ANALYSIS_VERIFY, got ${m.analysis}`,
    );
  if (m.targetToken === "") throw new BadRequestError("target_token", "must not be empty when set");
  const view: AnalyzeRequestView = { modelPath: m.modelPath, prompt: m.prompt, analysis };
  if (m.targetToken !== undefined) view.targetToken = m.targetToken;
  if (m.head !== undefined) view.head = { layer: m.head.layer, head: m.head.head };
  return view;
}
