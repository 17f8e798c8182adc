/**
 * Graphs for FFN-neuron importance (METHOD.md section 3), projected with the frozen final norm:
 * logits(u) = W_U (g * c(u) / s), c = centring for LayerNorm (identity for RMSNorm), bias dropped.
 *
 * - `buildUGraph`: U^T rows for a chunk of neurons of one layer: Ut[k] = W_U (g * c(W_out[k])),
 *   prompt-independent. Input w_out [Fc, D] -> u_t [Fc, V].
 * - `buildImportanceGraph`: the efficient exact form. Inputs resid [B, D] (r^l), scale [B] (s),
 *   coef [B, Fc] (m), target [B] int64 (w), u_t [Fc, V] -> imp [B, Fc]:
 *     z = logits(r); log p_k(w) = z[w] + (m_k/s) Ut[k, w] - logsumexp_v(z[v] + (m_k/s) Ut[k, v]);
 *     imp = log p_k(w) - log_softmax(z)[w].
 * - `buildLogProbGraph`: log p(w | u) for a batch of residual-space vectors (layer and head scores).
 * - `buildNaiveImportanceGraph`: the same numbers the slow way, as a test oracle and benchmark
 *   baseline: every neuron's r + m_k W_out[k] projected through the unembedding.
 *   Inputs resid [B, D], scale [B], coef [B, Fc], target [B], w_out [Fc, D] -> imp [B, Fc].
 */
import { GraphBuilder, int, ints } from "./graph.ts";
import type { Param } from "./pieces.ts";

export interface UnembedWeights {
  /** [V, D] unembedding (GPT-2: the tied token embedding) */
  unembed: { data: Float32Array; shape: number[] };
  /** [D] final norm weight g */
  normWeight: { data: Float32Array; shape: number[] };
  /** LayerNorm centres vectors before scaling; RMSNorm does not. */
  centre: boolean;
}

function unembedParams(g: GraphBuilder, u: UnembedWeights): { wU: Param; gain: Param } {
  return {
    wU: { name: g.weight("w_u", u.unembed.data, u.unembed.shape), shape: u.unembed.shape },
    gain: { name: g.weight("g_final", u.normWeight.data, u.normWeight.shape), shape: u.normWeight.shape },
  };
}

function centred(g: GraphBuilder, x: string, centre: boolean): string {
  if (!centre) return x;
  return g.op("Sub", [x, g.op("ReduceMean", [x], { axes: ints([-1]), keepdims: int(1) })]);
}

/** x [N, D] (already divided by s) -> logits [N, V] */
function project(g: GraphBuilder, x: string, p: { wU: Param; gain: Param }, centre: boolean): string {
  return g.op("Gemm", [g.op("Mul", [centred(g, x, centre), p.gain.name]), p.wU.name], { transB: int(1) });
}

export function buildUGraph(u: UnembedWeights, dModel: number): Uint8Array {
  const g = new GraphBuilder("u_matrix");
  const p = unembedParams(g, u);
  const wOut = g.input("w_out", "float32", ["chunk", dModel]);
  g.output("u_t", project(g, wOut, p, u.centre), "float32", ["chunk", u.unembed.shape[0]!]);
  return g.toBytes("cna-sweep");
}

interface Common {
  g: GraphBuilder;
  scale: string; // [B, 1]
  coefScaled: string; // [B, Fc] = m / s
  target: string; // [B] int64
  z: string; // [B, V]
  zTarget: string; // [B, 1]
  base: string; // [B, 1] log_softmax(z)[w]
}

function common(name: string, u: UnembedWeights, dModel: number): Common & { p: { wU: Param; gain: Param } } {
  const g = new GraphBuilder(name);
  const p = unembedParams(g, u);
  const resid = g.input("resid", "float32", ["batch", dModel]);
  const scale = g.op("Unsqueeze", [g.input("scale", "float32", ["batch"]), g.constant("int64", [1])]);
  const coef = g.input("coef", "float32", ["batch", "chunk"]);
  const target = g.input("target", "int64", ["batch"]);
  const z = project(g, g.op("Div", [resid, scale]), p, u.centre); // [B, V]
  const zTarget = g.op("GatherElements", [z, g.op("Unsqueeze", [target, g.constant("int64", [1])])], { axis: int(1) });
  const base = g.op("Sub", [zTarget, g.op("ReduceLogSumExp", [z], { axes: ints([-1]), keepdims: int(1) })]);
  return { g, p, scale, coefScaled: g.op("Div", [coef, scale]), target, z, zTarget, base };
}

export function buildImportanceGraph(u: UnembedWeights, dModel: number): Uint8Array {
  const { g, coefScaled, target, z, zTarget, base } = common("importance", u, dModel);
  const vocab = u.unembed.shape[0]!;
  const uT = g.input("u_t", "float32", ["chunk", vocab]);
  // X[b, k, v] = z[b, v] + c[b, k] * Ut[k, v]; the logsumexp over v is the kernel that matters.
  const scaledU = g.op("Mul", [g.op("Unsqueeze", [coefScaled, g.constant("int64", [2])]), uT]); // [B, Fc, V]
  const x = g.op("Add", [scaledU, g.op("Unsqueeze", [z, g.constant("int64", [1])])]);
  const lse = g.op("ReduceLogSumExp", [x], { axes: ints([-1]), keepdims: int(0) }); // [B, Fc]
  const uAtTarget = g.op("Transpose", [g.op("Gather", [uT, target], { axis: int(1) })], { perm: ints([1, 0]) }); // [B, Fc]
  const logp = g.op("Sub", [g.op("Add", [zTarget, g.op("Mul", [coefScaled, uAtTarget])]), lse]);
  g.output("imp", g.op("Sub", [logp, base]), "float32", ["batch", "chunk"]);
  return g.toBytes("cna-sweep");
}

export function buildNaiveImportanceGraph(u: UnembedWeights, dModel: number): Uint8Array {
  const { g, p, scale, target, base } = common("importance_naive", u, dModel);
  const resid = "resid";
  const coef = "coef";
  const wOut = g.input("w_out", "float32", ["chunk", dModel]);
  // subvalue v_k = m_k W_out[k]; u_k = r + v_k for every neuron, projected one by one (as rows).
  const sub = g.op("Mul", [g.op("Unsqueeze", [coef, g.constant("int64", [2])]), wOut]); // [B, Fc, D]
  const u3 = g.op("Add", [sub, g.op("Unsqueeze", [resid, g.constant("int64", [1])])]); // [B, Fc, D]
  const scaled = g.op("Div", [u3, g.op("Unsqueeze", [scale, g.constant("int64", [2])])]);
  const c = u.centre ? g.op("Sub", [scaled, g.op("ReduceMean", [scaled], { axes: ints([-1]), keepdims: int(1) })]) : scaled;
  const logits = g.op("MatMul", [g.op("Mul", [c, p.gain.name]), g.op("Transpose", [p.wU.name], { perm: ints([1, 0]) })]); // [B, Fc, V]
  const logProbs = g.op("LogSoftmax", [logits], { axis: int(-1) });
  const idx = g.op("Unsqueeze", [g.op("Unsqueeze", [target, g.constant("int64", [1])]), g.constant("int64", [2])]); // [B, 1, 1]
  const shape = g.op("Shape", [coef]); // [B, Fc]
  const gathered = g.op("GatherElements", [logProbs, g.op("Expand", [idx, g.op("Concat", [shape, g.constant("int64", [1])], { axis: int(0) })])], { axis: int(2) });
  const logp = g.op("Squeeze", [gathered, g.constant("int64", [2])]); // [B, Fc]
  g.output("imp", g.op("Sub", [logp, base]), "float32", ["batch", "chunk"]);
  return g.toBytes("cna-sweep");
}

/** log p(w | u) for N vectors: vec [N, D], scale [N], target [N] int64 -> logp [N]. */
export function buildLogProbGraph(u: UnembedWeights, dModel: number): Uint8Array {
  const g = new GraphBuilder("log_prob");
  const p = unembedParams(g, u);
  const vec = g.input("vec", "float32", ["n", dModel]);
  const scale = g.op("Unsqueeze", [g.input("scale", "float32", ["n"]), g.constant("int64", [1])]);
  const target = g.op("Unsqueeze", [g.input("target", "int64", ["n"]), g.constant("int64", [1])]);
  const logProbs = g.op("LogSoftmax", [project(g, g.op("Div", [vec, scale]), p, u.centre)], { axis: int(-1) }); // [N, V]
  const picked = g.op("GatherElements", [logProbs, target], { axis: int(1) }); // [N, 1]
  g.output("logp", g.op("Squeeze", [picked, g.constant("int64", [1])]), "float32", ["n"]);
  return g.toBytes("cna-sweep");
}
