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
export { buildGpt2Graph, GRAPH_OUTPUTS } from "./gpt2.ts";
export type { GraphOutput, Gpt2Variant } from "./gpt2.ts";
export { buildLogProbGraph, buildMomentGraph, buildNaiveImportanceGraph, buildPairGraph, buildScaledUGraph, buildSoftmaxGraph, buildUGraph } from "./attribution.ts";
export type { UnembedWeights } from "./attribution.ts";
export { GraphSession, SessionCache, availableProviders, floatTensor, int64Tensor, resolveSessionOptions } from "./session.ts";
export type { Feeds, Fetches, Provider, ResolvedSessionOptions, SessionOptions } from "./session.ts";
export { ModelRunner } from "./runner.ts";
export type { ForwardRequest, ForwardResult, RunnerOptions } from "./runner.ts";
export { EngineInputError, NonFiniteError } from "./errors.ts";
