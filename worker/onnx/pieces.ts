/**
 * Transformer pieces shared by every architecture's graph builder: norms, MLP activations,
 * attention with a per-head mask, and reads at the last real position.
 *
 * Vocabulary (TransformerLens): `resid_pre` enters a layer, `resid_mid` is after attention,
 * `mlp_post` are the FFN coefficients m, `z` is the per-head attention value mix before W_O.
 */
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

export function layerNorm(g: GraphBuilder, x: string, weight: Param, bias: Param, eps: number): string {
  return g.op("LayerNormalization", [x, weight.name, bias.name], { axis: int(-1), epsilon: float(eps) }, "ln");
}

/** GPT-2's "gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh(g: GraphBuilder, x: string): string {
  const cube = g.op("Mul", [g.op("Mul", [x, x]), x]);
  const inner = g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715)])]);
  const t = g.op("Tanh", [g.op("Mul", [inner, g.scalar(Math.sqrt(2 / Math.PI))])]);
  return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5)]), g.op("Add", [t, g.scalar(1)])]);
}

/** Exact GELU: 0.5 x (1 + erf(x / sqrt 2)). */
export function geluErf(g: GraphBuilder, x: string): string {
  const e = g.op("Erf", [g.op("Mul", [x, g.scalar(Math.SQRT1_2)])]);
  return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5)]), g.op("Add", [e, g.scalar(1)])]);
}

/** Values the graph needs about the dynamic sequence length, computed once. */
export interface Positions {
  /** [T] int64: 0..T-1 */
  range: string;
  /** [T, T] float32: 0 on and below the diagonal, -inf above (causal attention). */
  causalBias: string;
  /** [B, 1, T] float32: one-hot of each row's last real position (right padding). */
  lastOneHot: string;
}

export function positions(g: GraphBuilder, x: string, lastIndex: string): Positions {
  // x: [B, T, ...]; lastIndex: [B] int64
  const seqLen = g.op("Gather", [g.op("Shape", [x]), g.constant("int64", [1], [])], { axis: int(0) }, "seq_len");
  const range = g.op("Range", [g.constant("int64", [0], []), seqLen, g.constant("int64", [1], [])], {}, "pos");
  const rows = g.op("Unsqueeze", [range, g.constant("int64", [1])]); // [T, 1]
  const cols = g.op("Unsqueeze", [range, g.constant("int64", [0])]); // [1, T]
  const future = g.op("Greater", [cols, rows]); // [T, T] bool
  const causalBias = g.op("Where", [future, g.scalar(-Infinity), g.scalar(0)], {}, "causal");
  const isLast = g.op("Equal", [cols, g.op("Unsqueeze", [lastIndex, g.constant("int64", [1])])]); // [B, T]
  const lastOneHot = g.op("Unsqueeze", [g.op("Cast", [isLast], { to: int(1) }), g.constant("int64", [1])], {}, "last"); // [B, 1, T]
  return { range, causalBias, lastOneHot };
}

/** x [B, T, ...rest] -> [B, ...rest] at each row's last real position. */
export function atLast(g: GraphBuilder, pos: Positions, x: string, rest: number[]): string {
  // Flatten the trailing dims so one batched MatMul [B,1,T] x [B,T,R] does the gather.
  const r = rest.reduce((a, b) => a * b, 1);
  const flat = g.op("Reshape", [x, g.constant("int64", [0, -1, r])]); // [B, T, R]
  const picked = g.op("MatMul", [pos.lastOneHot, flat]); // [B, 1, R]
  return g.op("Reshape", [picked, g.constant("int64", [0, ...rest])]);
}

export interface AttentionParams {
  qkv: Param; // [D, 3D]
  qkvBias: Param; // [3D]
  out: Param; // [D, D] rows grouped by head
  outBias: Param; // [D]
}

export interface AttentionResult {
  /** [B, T, D] attention output including its bias */
  out: string;
  /** [B, T, H, d_head] per-head value mix after the head mask */
  z: string;
}

/**
 * Causal multi-head self-attention; `headMask` ([B, H], 1 keeps a head, 0 ablates it) multiplies
 * each head's slice of z before W_O, at every position.
 */
export function attention(
  g: GraphBuilder, x: string, p: AttentionParams, nHead: number, dHead: number, pos: Positions, headMask: string,
): AttentionResult {
  const d = nHead * dHead;
  const qkv = linear(g, x, p.qkv, p.qkvBias); // [B, T, 3D]
  const [q, k, v] = g.opN("Split", [qkv, g.constant("int64", [d, d, d])], 3, { axis: int(2) }, "qkv");
  const heads = (t: string) => g.op("Transpose", [g.op("Reshape", [t!, g.constant("int64", [0, 0, nHead, dHead])])], { perm: ints([0, 2, 1, 3]) });
  const qh = heads(q!); // [B, H, T, dh]
  const kt = g.op("Transpose", [g.op("Reshape", [k!, g.constant("int64", [0, 0, nHead, dHead])])], { perm: ints([0, 2, 3, 1]) }); // [B, H, dh, T]
  const vh = heads(v!); // [B, H, T, dh]
  const scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [qh, kt]), g.scalar(1 / Math.sqrt(dHead))]), pos.causalBias]); // [B, H, T, T]
  const mixed = g.op("MatMul", [g.op("Softmax", [scores], { axis: int(-1) }), vh]); // [B, H, T, dh]
  const z0 = g.op("Transpose", [mixed], { perm: ints([0, 2, 1, 3]) }); // [B, T, H, dh]
  const mask = g.op("Unsqueeze", [headMask, g.constant("int64", [1, 3])]); // [B, 1, H, 1]
  const z = g.op("Mul", [z0, mask], {}, "z");
  const flat = g.op("Reshape", [z, g.constant("int64", [0, 0, d])]); // [B, T, D]
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

/** LayerNorm's scale at each row: sqrt(var(x) + eps) over the last axis; x [B, D] -> [B]. */
export function normScale(g: GraphBuilder, x: string, eps: number): string {
  const mean = g.op("ReduceMean", [x], { axes: ints([-1]), keepdims: int(1) });
  const centred = g.op("Sub", [x, mean]);
  const variance = g.op("ReduceMean", [g.op("Mul", [centred, centred])], { axes: ints([-1]), keepdims: int(0) });
  return g.op("Sqrt", [g.op("Add", [variance, g.scalar(eps)])]);
}
