/**
 * Transformer pieces shared by every architecture's graph builder: norms, MLP activations,
 * attention with a per-head mask, and reads at the last real position.
 *
 * Vocabulary (TransformerLens): `resid_pre` enters a layer, `resid_mid` is after attention,
 * `mlp_post` are the FFN coefficients m, `z` is the per-head attention value mix before W_O.
 */
import type { NormKind } from "../model/config.ts";
import { float, int, ints, type GraphBuilder } from "./graph.ts";

/** A float32 parameter already added to the graph, with its shape. */
export interface Param {
  name: string;
  shape: number[];
}

export function linear(g: GraphBuilder, x: string, weight: Param, bias?: Param): string {
  const y = g.op("MatMul", [x, weight.name]);
  return bias ? g.op("Add", [y, bias.name]) : y;
}

/**
 * A projection as the checkpoint stores it: `transposed` weights are [out, in] (nn.Linear), applied
 * as x W^T by Gemm on [rows, in], so the initializer is used as stored (no transposed copy is
 * folded into every session); others are [in, out] (GPT-2's Conv1D), x W by MatMul.
 */
export interface Proj {
  weight: Param;
  bias?: Param;
  transposed: boolean;
}

/** x [..., in] -> [..., out]; `rank` 2 takes x as [rows, in] directly. */
export function project(g: GraphBuilder, x: string, p: Proj, rank = 3): string {
  if (!p.transposed) return linear(g, x, p.weight, p.bias);
  const out = p.weight.shape[0]!;
  const rest = p.bias ? [p.weight.name, p.bias.name] : [p.weight.name];
  if (rank === 2) return g.op("Gemm", [x, ...rest], { transB: int(1) });
  const lead = g.op("Slice", [g.op("Shape", [x]), g.constant("int64", [0]), g.constant("int64", [-1])]);
  const rows = g.op("Reshape", [x, g.constant("int64", [-1, p.weight.shape[1]!])]);
  const y = g.op("Gemm", [rows, ...rest], { transB: int(1) });
  return g.op("Reshape", [y, g.op("Concat", [lead, g.constant("int64", [out])], { axis: int(0) })]);
}

export function layerNorm(g: GraphBuilder, x: string, weight: Param, bias: Param, eps: number): string {
  return g.op("LayerNormalization", [x, weight.name, bias.name], { axis: int(-1), epsilon: float(eps) }, "ln");
}

/** RMSNorm over the last axis as transformers computes it: weight * (x * rsqrt(mean(x^2) + eps)). */
export function rmsNorm(g: GraphBuilder, x: string, weight: Param, eps: number): string {
  const meanSquare = g.op("ReduceMean", [g.op("Mul", [x, x])], { axes: ints([-1]), keepdims: int(1) });
  const inverse = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [meanSquare, g.scalar(eps)])])]);
  return g.op("Mul", [weight.name, g.op("Mul", [x, inverse])], {}, "rms");
}

/** A norm's parameters: LayerNorm has a bias, RMSNorm none. */
export interface NormParams {
  weight: Param;
  bias?: Param;
}

export function norm(g: GraphBuilder, x: string, p: NormParams, kind: NormKind, eps: number): string {
  if (kind === "rmsnorm") return rmsNorm(g, x, p.weight, eps);
  return layerNorm(g, x, p.weight, p.bias!, eps);
}

/** SiLU (swish): x * sigmoid(x), SwiGLU's gate activation. */
export function silu(g: GraphBuilder, x: string): string {
  return g.op("Mul", [x, g.op("Sigmoid", [x])], {}, "silu");
}

/**
 * GPT-2's "gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))), the same function as
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). Written in the node order ONNX Runtime's
 * FastGeluFusion recognises, so the CPU provider runs it as one FastGelu kernel instead of nine
 * elementwise passes over [B, T, F].
 */
export function geluTanh(g: GraphBuilder, x: string): string {
  const poly = g.op("Add", [g.op("Mul", [g.op("Mul", [x, g.scalar(0.044715)]), x]), g.scalar(1)]); // 1 + 0.044715 x^2
  const t = g.op("Tanh", [g.op("Mul", [g.op("Mul", [x, g.scalar(Math.sqrt(2 / Math.PI))]), poly])]);
  return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5)]), g.op("Add", [t, g.scalar(1)])]);
}

/** Exact GELU: 0.5 x (1 + erf(x / sqrt 2)), in the node order of ONNX Runtime's GeluFusion. */
export function geluErf(g: GraphBuilder, x: string): string {
  const e = g.op("Erf", [g.op("Div", [x, g.scalar(Math.SQRT2)])]);
  return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5)]), g.op("Add", [e, g.scalar(1)])]);
}

/** Values the graph needs about the dynamic sequence length, computed once. */
export interface Sequence {
  /** [T] int64: 0..T-1 */
  range: string;
  /** [T, T] float32: 0 on and below the diagonal, -inf above (causal attention). */
  causalBias: string;
}

/** Positions read in each row: R per row, given as read_index [B, R] int64. */
export interface Reads {
  /** [B, R, T] float32: one-hot of each read position */
  oneHot: string;
}

/** A sequence whose rows are read at their last real position (right padding). */
export interface Positions extends Sequence {
  last: Reads;
}

export function sequence(g: GraphBuilder, x: string): Sequence {
  // x: [B, T, ...]
  const seqLen = g.op("Gather", [g.op("Shape", [x]), g.constant("int64", [1], [])], { axis: int(0) }, "seq_len");
  const range = g.op("Range", [g.constant("int64", [0], []), seqLen, g.constant("int64", [1], [])], {}, "pos");
  const rows = g.op("Unsqueeze", [range, g.constant("int64", [1])]); // [T, 1]
  const cols = g.op("Unsqueeze", [range, g.constant("int64", [0])]); // [1, T]
  const future = g.op("Greater", [cols, rows]); // [T, T] bool
  return { range, causalBias: g.op("Where", [future, g.scalar(-Infinity), g.scalar(0)], {}, "causal") };
}

export function reads(g: GraphBuilder, seq: Sequence, index: string): Reads {
  const cols = g.op("Unsqueeze", [seq.range, g.constant("int64", [0, 1])]); // [1, 1, T]
  const at = g.op("Unsqueeze", [index, g.constant("int64", [2])]); // [B, R, 1]
  return { oneHot: g.op("Cast", [g.op("Equal", [cols, at])], { to: int(1) }, "read") }; // [B, R, T]
}

/** x: [B, T, ...]; lastIndex: [B] int64. */
export function positions(g: GraphBuilder, x: string, lastIndex: string): Positions {
  const seq = sequence(g, x);
  return { ...seq, last: reads(g, seq, g.op("Unsqueeze", [lastIndex, g.constant("int64", [1])])) };
}

/** x [B, T, ...rest] -> [B, ...rest] at each row's last real position. */
export function atLast(g: GraphBuilder, pos: Positions, x: string, rest: number[]): string {
  return g.op("Reshape", [readRows(g, pos.last, x, rest), g.constant("int64", [0, ...rest])]);
}

/** x [B, T, ...rest] -> [B, R, ...rest]: each row at its read positions, kept as a length-R sequence. */
export function readRows(g: GraphBuilder, r: Reads, x: string, rest: number[]): string {
  // Flatten the trailing dims so one batched MatMul [B,R,T] x [B,T,X] does the gather (exact: a
  // one-hot row adds one value and zeros).
  const n = rest.reduce((a, b) => a * b, 1);
  const flat = g.op("Reshape", [x, g.constant("int64", [0, -1, n])]); // [B, T, X]
  const picked = g.op("MatMul", [r.oneHot, flat]); // [B, R, X]
  return rest.length === 1 ? picked : g.op("Reshape", [picked, g.constant("int64", [0, 0, ...rest])]);
}

export interface QkvParams {
  qkv: Param; // [D, 3D]
  qkvBias: Param; // [3D]
}

export interface OutParams {
  out: Param; // [D, D] rows grouped by head
  outBias: Param; // [D]
}

export interface AttentionResult {
  /** [B, T, D] attention output including its bias */
  out: string;
  /** [B, T, H, d_head] per-head value mix after the head mask */
  z: string;
}

/** [B, T, D] -> [B, H, T, dh] */
function splitHeads(g: GraphBuilder, t: string, nHead: number, dHead: number): string {
  return g.op("Transpose", [g.op("Reshape", [t, g.constant("int64", [0, 0, nHead, dHead])])], {
    perm: ints([0, 2, 1, 3]),
  });
}

/** softmax(q k^T / sqrt(dh) + causal bias) v for q, k, v [B, T, D] -> [B, T, H, dh]. */
function mix(
  g: GraphBuilder,
  q: string,
  k: string,
  v: string,
  causalBias: string,
  nHead: number,
  dHead: number,
): string {
  const kt = g.op("Transpose", [g.op("Reshape", [k, g.constant("int64", [0, 0, nHead, dHead])])], {
    perm: ints([0, 2, 3, 1]),
  }); // [B, H, dh, T]
  const scores = g.op("Add", [
    g.op("Mul", [g.op("MatMul", [splitHeads(g, q, nHead, dHead), kt]), g.scalar(1 / Math.sqrt(dHead))]),
    causalBias,
  ]); // [B, H, T, T]
  const mixed = g.op("MatMul", [g.op("Softmax", [scores], { axis: int(-1) }), splitHeads(g, v, nHead, dHead)]); // [B, H, T, dh]
  return g.op("Transpose", [mixed], { perm: ints([0, 2, 1, 3]) });
}

/**
 * Causal per-head value mix at every position, before any head mask: x [B, T, D] -> z0 [B, T, H, dh].
 * A layer read at a few positions only still computes every query here: the attention products
 * then have the same shapes whatever is read, so a read's numbers never depend on which other
 * positions or rows are read with it, and its cost is small next to the projections.
 */
export function attentionValues(
  g: GraphBuilder,
  x: string,
  p: QkvParams,
  nHead: number,
  dHead: number,
  seq: Sequence,
): string {
  const d = nHead * dHead;
  const qkv = linear(g, x, p.qkv, p.qkvBias); // [B, T, 3D]
  const [q, k, v] = g.opN("Split", [qkv, g.constant("int64", [d, d, d])], 3, { axis: int(2) }, "qkv");
  return mix(g, q!, k!, v!, seq.causalBias, nHead, dHead);
}

/**
 * Applies the head mask ([B, H], 1 keeps a head, 0 ablates it) to z0 [B, T, H, dh] and projects
 * through W_O: the attention output [B, T, D] with its bias, and the masked z.
 */
export function attentionOutput(
  g: GraphBuilder,
  z0: string,
  headMask: string,
  p: OutParams,
  nHead: number,
  dHead: number,
): AttentionResult {
  const mask = g.op("Unsqueeze", [headMask, g.constant("int64", [1, 3])]); // [B, 1, H, 1]
  const z = g.op("Mul", [z0, mask], {}, "z");
  const flat = g.op("Reshape", [z, g.constant("int64", [0, 0, nHead * dHead])]); // [B, T, D]
  return { out: linear(g, flat, p.out, p.outBias), z };
}

/**
 * Each head's contribution to the residual at the last position, without the output bias:
 * z_last [B, H, dh] times W_O split per head [H, dh, D] -> [B, H, D].
 */
export function headOutputs(g: GraphBuilder, zLast: string, out: Param, nHead: number, dHead: number): string {
  const d = out.shape[1]!;
  const perHead = g.op("Reshape", [out.name, g.constant("int64", [nHead, dHead, d])]); // [H, dh, D]
  const z4 = g.op("Unsqueeze", [zLast, g.constant("int64", [2])]); // [B, H, 1, dh]
  const y = g.op("MatMul", [z4, perHead]); // [B, H, 1, D]
  return g.op("Squeeze", [y, g.constant("int64", [2])]);
}

/** Slice [B, L, X] at layer l -> [B, X]. */
export function layerSlice(g: GraphBuilder, x: string, layer: number): string {
  return g.op("Gather", [x, g.constant("int64", [layer], [])], { axis: int(1) });
}

/** Stacks per-layer [B, ...] tensors into [B, L, ...]. */
export function stackLayers(g: GraphBuilder, parts: string[]): string {
  const expanded = parts.map((p) => g.op("Unsqueeze", [p, g.constant("int64", [1])]));
  return expanded.length === 1 ? expanded[0]! : g.op("Concat", expanded, { axis: int(1) });
}

/**
 * The final norm's scale at each row, x [B, D] -> [B]: LayerNorm sqrt(var(x) + eps), RMSNorm
 * sqrt(mean(x^2) + eps), so that norm(x) = g * c(x) / s (docs/method.md §3).
 */
export function normScale(g: GraphBuilder, x: string, eps: number, kind: NormKind = "layernorm"): string {
  const centred =
    kind === "rmsnorm" ? x : g.op("Sub", [x, g.op("ReduceMean", [x], { axes: ints([-1]), keepdims: int(1) })]);
  const variance = g.op("ReduceMean", [g.op("Mul", [centred, centred])], { axes: ints([-1]), keepdims: int(0) });
  return g.op("Sqrt", [g.op("Add", [variance, g.scalar(eps)])]);
}
