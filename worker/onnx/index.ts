/**
 * worker/onnx — ONNX graphs built in TypeScript from checkpoint weights, and the sessions that
 * run them.
 *
 * @example
 * ```ts
 * const ck = await loadCheckpoint("models/arith-2l-d64");
 * await using runner = new ModelRunner("arith-2l-d64", ck.config, ck.weights, { provider: "cpu" });
 * const out = await runner.forward({ sequences: [[5, 12, 7, 16]], outputs: ["logits", "mlp_post"] });
 * ```
 */
export { GraphBuilder, OPSET } from "./graph.ts";
export type { Attr, Dim, ElemType, ExternalRef } from "./graph.ts";
export { buildModelGraph, buildReadoutGraph, GRAPH_OUTPUTS } from "./model-graph.ts";
export type { GraphOutput, GraphVariant, ReadoutVariant } from "./model-graph.ts";
export { defaultWeightCacheDir } from "./graph-files.ts";
export { ropeInvFreq } from "./rotary.ts";
export type { ExternalWeights } from "./params.ts";
export {
  buildLogProbGraph,
  buildMomentGraph,
  buildNaiveImportanceGraph,
  buildPairGraph,
  buildScaledUGraph,
  buildSoftmaxGraph,
  buildUGraph,
  MOMENT_BLOCKS,
  vocabBlocks,
} from "./attribution.ts";
export type { UnembedWeights } from "./attribution.ts";
export {
  GraphSession,
  SessionCache,
  availableProviders,
  floatTensor,
  int64Tensor,
  resolveSessionOptions,
} from "./session.ts";
export type { Feeds, Fetches, GraphOptions, Provider, ResolvedSessionOptions, SessionOptions } from "./session.ts";
export { ModelRunner } from "./runner.ts";
export { vocabClasses } from "./vocab-classes.ts";
export type { VocabClasses } from "./vocab-classes.ts";
export type { ForwardRequest, ForwardResult, RunnerOptions } from "./runner.ts";
export { EngineInputError, NonFiniteError } from "./errors.ts";
