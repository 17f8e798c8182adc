/**
 * Graphs for FFN-neuron importance (docs/method.md §3), projected with the frozen final norm:
 * logits(u) = W_U (g * c(u) / s), c = centring for LayerNorm (identity for RMSNorm), bias dropped.
 *
 * The fast path writes U^l[:, k] = W_U (g * c(W_out^l[k])) as a_k + h_k x_k with |x_k| ≤ 1
 * (a_k the midrange of the row, h_k its half-range). With c = m_k / s and t = c h_k,
 *   Imp(l, k) = log p_k(w) - log_softmax(z)[w] = t x_k[w] - log sum_v softmax(z)_v exp(t x_k[v])
 * (the constant c a_k shifts every logit alike and cancels). importance.ts evaluates the sum from
 * power moments of x_k under softmax(z) (GEMMs), or exactly in log space.
 *
 * - `buildUGraph`: U^T rows for a chunk of neurons: w_out [Fc, D] -> u_t [Fc, V] (top tokens, bench).
 * - `buildScaledUGraph`: the same rows as x (|x| ≤ 1) and h [Fc]; x in vocabulary blocks,
 *   x_b [nb, Fc, W] (vocabBlocks: V zero-padded to nb * W), the layout the moment GEMMs read.
 * - `buildSoftmaxGraph`: per case, once per layer: resid [B, D] (r^l), scale [B] (s), target [B]
 *   -> z [B, V] (frozen-norm logits), p_t [V, B] = softmax(z)^T, base [B] = log_softmax(z)[w].
 * - `buildMomentGraph(N)`: p_t [V, B], x_b [nb, K, W], idx [C] (rows of x) -> mu [N * C, B],
 *   mu[(n - 1) * C + i, b] = sum_v x[idx[i], v]^n p_t[v, b] for n = 1..N, summed per vocabulary
 *   block and then over blocks, so that the bits do not depend on the thread count (MOMENT_BLOCKS).
 * - `buildPairGraph`: the exact form for P (case, neuron) pairs: z [B, V], x_b [nb, K, W], case [P],
 *   row [P], t [P], target [P] -> logp [P] = log_softmax(z[case] + t x[row])[target].
 * - `buildLogProbGraph`: log p(w | u) for a batch of residual-space vectors (layer and head scores).
 * - `buildNaiveImportanceGraph`: the numbers the slow way, as a test oracle and benchmark
 *   baseline: every neuron's r + m_k W_out[k] projected through the unembedding.
 *   Inputs resid [B, D], scale [B], coef [B, Fc], target [B], w_out [Fc, D] -> imp [B, Fc].
 */
import type { Tensor } from "../model/weights.ts";
import { GraphBuilder, int, ints } from "./graph.ts";
import type { ExternalWeights } from "./params.ts";
import type { Param } from "./pieces.ts";

export interface UnembedWeights {
  /** [V, D] unembedding (GPT-2: the tied token embedding); its bias, if any, is not here (dropped) */
  unembed: Tensor;
  /** [D] final norm weight g */
  normWeight: Tensor;
  /** LayerNorm centres vectors before scaling; RMSNorm does not. */
  centre: boolean;
  /**
   * Present when `unembed`'s rows are classes of identical token rows (vocab-classes.ts): [G] log
   * of each class's size. Targets are then class ids, and every softmax counts a class n times.
   */
  logCount?: Float32Array;
}

interface Unembed {
  wU: Param;
  gain: Param;
}

/** The unembedding and norm gain as initializers; pointing into the weight files when `external` says where. */
function unembedParams(g: GraphBuilder, u: UnembedWeights, external?: ExternalWeights): Unembed {
  const param = (hint: string, t: Tensor): Param => {
    const ref = external?.(t);
    return { name: ref ? g.externalWeight(hint, t.shape, ref) : g.weight(hint, t.data, t.shape), shape: t.shape };
  };
  return { wU: param("w_u", u.unembed), gain: param("g_final", u.normWeight) };
}

function centred(g: GraphBuilder, x: string, centre: boolean): string {
  if (!centre) return x;
  return g.op("Sub", [x, g.op("ReduceMean", [x], { axes: ints([-1]), keepdims: int(1) })]);
}

/** x [N, D] (already divided by s) -> logits [N, V] */
function project(g: GraphBuilder, x: string, p: Unembed, centre: boolean): string {
  return g.op("Gemm", [g.op("Mul", [centred(g, x, centre), p.gain.name]), p.wU.name], { transB: int(1) });
}

const unsqueeze = (g: GraphBuilder, x: string, axis: number) => g.op("Unsqueeze", [x, g.constant("int64", [axis])]);
const squeeze = (g: GraphBuilder, x: string, axis: number) => g.op("Squeeze", [x, g.constant("int64", [axis])]);

/** Logits over classes, each shifted by log of its size (sums over them count every token), or `z` as is. */
function counted(g: GraphBuilder, z: string, logCount: Float32Array | undefined): string {
  return logCount ? g.op("Add", [z, g.weight("log_count", logCount, [logCount.length])]) : z;
}

/** log p(target) from counted logits: log_softmax(x)[target], less log n_target for classes. */
function logProbAt(g: GraphBuilder, x: string, target: string, logCount: Float32Array | undefined): string {
  const lp = logSoftmaxAt(g, x, target);
  return logCount
    ? g.op("Sub", [
        lp,
        g.op("Gather", [g.weight("log_count_t", logCount, [logCount.length]), target], { axis: int(0) }),
      ])
    : lp;
}

/** log_softmax(x)[target] per row: x [N, V], target [N] int64 -> [N] */
function logSoftmaxAt(g: GraphBuilder, x: string, target: string): string {
  return squeeze(
    g,
    g.op("GatherElements", [g.op("LogSoftmax", [x], { axis: int(-1) }), unsqueeze(g, target, 1)], { axis: int(1) }),
    1,
  );
}

export function buildUGraph(u: UnembedWeights, dModel: number, external?: ExternalWeights): Uint8Array {
  const g = new GraphBuilder("u_matrix");
  const p = unembedParams(g, u, external);
  const wOut = g.input("w_out", "float32", ["chunk", dModel]);
  g.output("u_t", project(g, wOut, p, u.centre), "float32", ["chunk", u.unembed.shape[0]!]);
  return g.toBytes("cna-sweep");
}

/**
 * The vocabulary blocks of the moment GEMMs. ONNX Runtime's CPU GEMM may split a long reduction
 * (here: over the vocabulary) differently for different intra-op thread counts, and for skinny
 * products it does, so a plain [C, V] x [V, B] MatMul gives results that differ in the last bit
 * between a worker with 1 thread and one with 8. The sum over v is instead cut into a fixed
 * number of blocks of a fixed width (both depend on V alone), multiplied as a batch of GEMMs,
 * which the runtime gives one thread each while there are at least as many blocks as threads,
 * and the block sums are added in block order: the same bits for any thread count up to
 * MOMENT_BLOCKS.
 */
export const MOMENT_BLOCKS = 64;

/** Width of a moment block: V / MOMENT_BLOCKS rounded up to a multiple of 16 (zero-padded). */
export function momentBlockWidth(vocab: number): number {
  return Math.ceil(vocab / MOMENT_BLOCKS / 16) * 16;
}

/** How the vocabulary is cut: `blocks` blocks of `width`, the last `pad` columns zeros. */
export interface VocabBlocks {
  blocks: number;
  width: number;
  pad: number;
}

export function vocabBlocks(vocab: number): VocabBlocks {
  const width = momentBlockWidth(vocab);
  const blocks = Math.ceil(vocab / width);
  return { blocks, width, pad: blocks * width - vocab };
}

/** x [rows, V] as [blocks, rows, width], zero-padded: each block's rows contiguous for the GEMMs. */
function toBlocks(g: GraphBuilder, x: string, vb: VocabBlocks): string {
  const padded = vb.pad === 0 ? x : g.op("Pad", [x, g.constant("int64", [0, 0, 0, vb.pad])]);
  return g.op("Transpose", [g.op("Reshape", [padded, g.constant("int64", [0, vb.blocks, vb.width])])], {
    perm: ints([1, 0, 2]),
  });
}

/** x [blocks, rows, width] back to [rows, V]. */
function fromBlocks(g: GraphBuilder, x: string, vb: VocabBlocks, vocab: number): string {
  const rows = g.op("Reshape", [
    g.op("Transpose", [x], { perm: ints([1, 0, 2]) }),
    g.constant("int64", [0, vb.blocks * vb.width]),
  ]);
  return vb.pad === 0
    ? rows
    : g.op("Slice", [rows, g.constant("int64", [0]), g.constant("int64", [vocab]), g.constant("int64", [1])]);
}

export function buildScaledUGraph(u: UnembedWeights, dModel: number, external?: ExternalWeights): Uint8Array {
  const g = new GraphBuilder("u_scaled");
  const p = unembedParams(g, u, external);
  const uT = project(g, g.input("w_out", "float32", ["chunk", dModel]), p, u.centre); // [Fc, V]
  const hi = g.op("ReduceMax", [uT], { axes: ints([-1]), keepdims: int(1) });
  const lo = g.op("ReduceMin", [uT], { axes: ints([-1]), keepdims: int(1) });
  const half = g.op("Mul", [g.op("Sub", [hi, lo]), g.scalar(0.5)]); // [Fc, 1]
  const mid = g.op("Mul", [g.op("Add", [hi, lo]), g.scalar(0.5)]);
  // A constant row (half = 0) has U - mid = 0, so any positive divisor gives x = 0.
  const x = g.op("Div", [g.op("Sub", [uT, mid]), g.op("Max", [half, g.scalar(1e-30)])]);
  const vb = vocabBlocks(u.unembed.shape[0]!);
  g.output("x_b", toBlocks(g, x, vb), "float32", [vb.blocks, "chunk", vb.width]);
  g.output("h", squeeze(g, half, 1), "float32", ["chunk"]);
  return g.toBytes("cna-sweep");
}

export function buildSoftmaxGraph(u: UnembedWeights, dModel: number, external?: ExternalWeights): Uint8Array {
  const g = new GraphBuilder("frozen_softmax");
  const p = unembedParams(g, u, external);
  const resid = g.input("resid", "float32", ["batch", dModel]);
  const scale = unsqueeze(g, g.input("scale", "float32", ["batch"]), 1);
  const target = g.input("target", "int64", ["batch"]);
  const z = counted(g, project(g, g.op("Div", [resid, scale]), p, u.centre), u.logCount); // [B, V]
  const vocab = u.unembed.shape[0]!;
  g.output("z", z, "float32", ["batch", vocab]);
  // Transposed: the moment GEMMs then stream x^n as their unpacked left operand.
  g.output("p_t", g.op("Transpose", [g.op("Softmax", [z], { axis: int(-1) })], { perm: ints([1, 0]) }), "float32", [
    vocab,
    "batch",
  ]);
  g.output("base", logProbAt(g, z, target, u.logCount), "float32", ["batch"]);
  return g.toBytes("cna-sweep");
}

export function buildMomentGraph(degree: number, vocab: number): Uint8Array {
  if (!Number.isInteger(degree) || degree < 1)
    throw new RangeError(`moment degree must be a positive integer, got ${degree}`);
  const g = new GraphBuilder(`moments_${degree}`);
  const vb = vocabBlocks(vocab);
  const pT = g.input("p_t", "float32", [vocab, "batch"]);
  const pB = g.op("Reshape", [
    vb.pad === 0 ? pT : g.op("Pad", [pT, g.constant("int64", [0, 0, vb.pad, 0])]),
    g.constant("int64", [vb.blocks, vb.width, -1]),
  ]); // [nb, W, B]
  const x = g.op(
    "Gather",
    [g.input("x_b", "float32", [vb.blocks, "rows", vb.width]), g.input("idx", "int64", ["chunk"])],
    { axis: int(1) },
  ); // [nb, C, W]
  const powers = [x];
  for (let n = 2; n <= degree; n++) powers.push(g.op("Mul", [powers[n - 2]!, x]));
  const stacked = powers.length === 1 ? x : g.op("Concat", powers, { axis: int(1) }); // [nb, N * C, W]
  const mu = g.op("ReduceSum", [g.op("MatMul", [stacked, pB]), g.constant("int64", [0])], { keepdims: int(0) }); // [N * C, B]
  g.output("mu", mu, "float32", [`${degree}*chunk`, "batch"]);
  return g.toBytes("cna-sweep");
}

export function buildPairGraph(vocab: number, logCount?: Float32Array): Uint8Array {
  const g = new GraphBuilder("importance_pairs");
  const vb = vocabBlocks(vocab);
  const z = g.op("Gather", [g.input("z", "float32", ["batch", vocab]), g.input("case", "int64", ["pairs"])], {
    axis: int(0),
  }); // [P, V]
  const xb = g.op(
    "Gather",
    [g.input("x_b", "float32", [vb.blocks, "rows", vb.width]), g.input("row", "int64", ["pairs"])],
    { axis: int(1) },
  );
  const x = fromBlocks(g, xb, vb, vocab); // [P, V]
  const t = unsqueeze(g, g.input("t", "float32", ["pairs"]), 1);
  const target = g.input("target", "int64", ["pairs"]);
  // z is the softmax graph's: already counted
  g.output("logp", logProbAt(g, g.op("Add", [z, g.op("Mul", [t, x])]), target, logCount), "float32", ["pairs"]);
  return g.toBytes("cna-sweep");
}

export function buildNaiveImportanceGraph(u: UnembedWeights, dModel: number, external?: ExternalWeights): Uint8Array {
  const g = new GraphBuilder("importance_naive");
  const p = unembedParams(g, u, external);
  const resid = g.input("resid", "float32", ["batch", dModel]);
  const scale = unsqueeze(g, g.input("scale", "float32", ["batch"]), 1);
  const coef = g.input("coef", "float32", ["batch", "chunk"]);
  const target = g.input("target", "int64", ["batch"]);
  const wOut = g.input("w_out", "float32", ["chunk", dModel]);
  const z = project(g, g.op("Div", [resid, scale]), p, u.centre); // [B, V]
  const zTarget = g.op("GatherElements", [z, unsqueeze(g, target, 1)], { axis: int(1) });
  const base = g.op("Sub", [zTarget, g.op("ReduceLogSumExp", [z], { axes: ints([-1]), keepdims: int(1) })]); // [B, 1]
  // subvalue v_k = m_k W_out[k]; u_k = r + v_k for every neuron, projected one by one (as rows).
  const sub = g.op("Mul", [unsqueeze(g, coef, 2), wOut]); // [B, Fc, D]
  const u3 = g.op("Add", [sub, unsqueeze(g, resid, 1)]); // [B, Fc, D]
  const scaled = g.op("Div", [u3, unsqueeze(g, scale, 2)]);
  const c = u.centre
    ? g.op("Sub", [scaled, g.op("ReduceMean", [scaled], { axes: ints([-1]), keepdims: int(1) })])
    : scaled;
  const logits = g.op("MatMul", [
    g.op("Mul", [c, p.gain.name]),
    g.op("Transpose", [p.wU.name], { perm: ints([1, 0]) }),
  ]); // [B, Fc, V]
  const logProbs = g.op("LogSoftmax", [logits], { axis: int(-1) });
  const idx = unsqueeze(g, unsqueeze(g, target, 1), 2); // [B, 1, 1]
  const shape = g.op("Shape", [coef]); // [B, Fc]
  const gathered = g.op(
    "GatherElements",
    [logProbs, g.op("Expand", [idx, g.op("Concat", [shape, g.constant("int64", [1])], { axis: int(0) })])],
    { axis: int(2) },
  );
  const logp = squeeze(g, gathered, 2); // [B, Fc]
  g.output("imp", g.op("Sub", [logp, base]), "float32", ["batch", "chunk"]);
  return g.toBytes("cna-sweep");
}

/** log p(w | u) for N vectors: vec [N, D], scale [N], target [N] int64 -> logp [N]. */
export function buildLogProbGraph(u: UnembedWeights, dModel: number, external?: ExternalWeights): Uint8Array {
  const g = new GraphBuilder("log_prob");
  const p = unembedParams(g, u, external);
  const vec = g.input("vec", "float32", ["n", dModel]);
  const scale = unsqueeze(g, g.input("scale", "float32", ["n"]), 1);
  const target = g.input("target", "int64", ["n"]);
  g.output(
    "logp",
    logProbAt(g, counted(g, project(g, g.op("Div", [vec, scale]), p, u.centre), u.logCount), target, u.logCount),
    "float32",
    ["n"],
  );
  return g.toBytes("cna-sweep");
}
