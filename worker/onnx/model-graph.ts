/**
 * The ONNX graph builders for every family, from the pieces its ModelConfig chooses: norm
 * (LayerNorm | RMSNorm), positions (learned | rotary), attention (attention.ts), MLP
 * (GELU | SwiGLU), block (sequential | parallel), unembedding (with or without bias).
 *
 * buildModelGraph: one graph per variant (start layer, output set, neuron mask or none); an
 * analysis builds the variant it needs.
 * Inputs:  input_ids [B, T] int64 (start layer 0) or resid_in [B, T, D] (start layer s > 0),
 *          last_index [B] int64, head_mask [B, L, H], neuron_mask [B, L, F] (unless the variant
 *          has none).
 * Outputs (any subset, all at the last real position unless noted): logits [B, V],
 *          resid_pre / resid_mid / attn_out / mlp_out [B, L, D], mlp_post [B, L, F],
 *          head_out [B, L, H, D], final_scale [B]; at every position: resid_pre_all
 *          [B, L, T, D] and logits_all [B, T, V].
 * resid_mid is x + A, the residual the MLP's neurons write into (docs/method.md §3), also in
 * parallel blocks, where the MLP itself reads the norm of x and the layer's output is x + A + M.
 * Layers before the start layer are absent; their slots in the per-layer outputs are zeros.
 * Unless logits_all is asked for, the last layer runs W_O and the MLP at the last position only:
 * nothing else is read there.
 *
 * buildReadoutGraph: top-1 token and P(target) at chosen positions of each row, for head
 * ablation (per head, or every head of a batch of cases in one run).
 */
import type { ModelConfig } from "../model/config.ts";
import type { ModelWeights } from "../model/weights.ts";
import { attentionOutput, attentionValues, headOutputs, outputProjection } from "./attention.ts";
import { GraphBuilder, int } from "./graph.ts";
import {
  atLast,
  geluErf,
  geluTanh,
  layerSlice,
  norm,
  normScale,
  positions,
  project,
  readRows,
  reads,
  sequence,
  silu,
  stackLayers,
} from "./pieces.ts";
import type { Sequence } from "./pieces.ts";
import { graphParams } from "./params.ts";
import type { ExternalWeights, GraphParams, LayerParams } from "./params.ts";
import { ropeTables } from "./rotary.ts";

export const GRAPH_OUTPUTS = [
  "logits",
  "resid_pre",
  "resid_mid",
  "attn_out",
  "mlp_out",
  "mlp_post",
  "head_out",
  "final_scale",
  "resid_pre_all",
  "logits_all",
] as const;
export type GraphOutput = (typeof GRAPH_OUTPUTS)[number];

export interface GraphVariant {
  startLayer: number;
  /** Whether the graph takes a neuron_mask input (default true); without one no FFN coefficient is scaled. */
  neuronMask?: boolean;
  outputs: ReadonlySet<GraphOutput>;
  /** Large checkpoints point into their weight files instead of copying them into every graph. */
  external?: ExternalWeights;
}

export function buildModelGraph(c: ModelConfig, w: ModelWeights, variant: GraphVariant): Uint8Array {
  const { nLayer: L, nHead: H, dModel: D, dMlp: F, vocabSize: V, dHead } = c;
  const s = variant.startLayer;
  if (!Number.isInteger(s) || s < 0 || s >= L) throw new RangeError(`start layer ${s} is outside 0..${L - 1}`);
  const want = (o: GraphOutput) => variant.outputs.has(o);
  const g = new GraphBuilder(`${c.architecture}_from_${s}`);
  const p = graphParams(g, w, variant.external);

  const lastIndex = g.input("last_index", "int64", ["batch"]);
  const headMask = g.input("head_mask", "float32", ["batch", L, H]);
  const neuronMask = (variant.neuronMask ?? true) ? g.input("neuron_mask", "float32", ["batch", L, F]) : null;

  let x: string; // [B, T, D]; [B, 1, D] once the last layer narrows to the last position
  let pos;
  if (s === 0) {
    const ids = g.input("input_ids", "int64", ["batch", "seq"]);
    pos = positions(g, ids, lastIndex);
    x = embed(g, p, ids, pos);
  } else {
    x = g.input("resid_in", "float32", ["batch", "seq", D]);
    pos = positions(g, x, lastIndex);
  }
  const rope = c.rotary === null ? null : ropeTables(g, pos, c.rotary);

  const per: Record<
    "resid_pre" | "resid_mid" | "attn_out" | "mlp_out" | "mlp_post" | "head_out" | "resid_pre_all",
    string[]
  > = {
    resid_pre: [],
    resid_mid: [],
    attn_out: [],
    mlp_out: [],
    mlp_post: [],
    head_out: [],
    resid_pre_all: [],
  };
  const zerosLike = (template: string) => g.op("Mul", [template, g.scalar(0)]);
  for (let l = s; l < L; l++) {
    const lp = p.layer(l);
    const narrow = l === L - 1 && !want("logits_all");
    const at = (t: string, rest: number[]) =>
      narrow ? g.op("Reshape", [t, g.constant("int64", [0, ...rest])]) : atLast(g, pos, t, rest);
    if (want("resid_pre_all")) per.resid_pre_all.push(x);
    let z0 = attentionValues(g, norm(g, x, lp.attnNorm, c.norm, c.normEps), lp.attn, c, pos, rope); // [B, T, H, dh]
    if (narrow) {
      z0 = readRows(g, pos.last, z0, [H, dHead]); // [B, 1, H, dh]
      x = readRows(g, pos.last, x, [D]); // [B, 1, D]
    }
    if (want("resid_pre")) per.resid_pre.push(at(x, [D]));
    const attn = attentionOutput(g, z0, layerSlice(g, headMask, l), lp.out, c);
    if (want("head_out")) per.head_out.push(headOutputs(g, at(attn.z, [H, dHead]), lp.out, c));
    if (want("attn_out")) per.attn_out.push(at(attn.out, [D]));
    const block = residualBlock(g, c, lp, x, attn.out, neuronMask === null ? null : layerSlice(g, neuronMask, l), l);
    if (want("resid_mid")) per.resid_mid.push(at(block.mid, [D]));
    if (want("mlp_post")) per.mlp_post.push(at(block.ffn.post, [F]));
    if (want("mlp_out")) per.mlp_out.push(at(block.ffn.out, [D]));
    x = block.next;
  }
  // Layers before the start layer have no values; fill their slots with zeros of the right shape.
  for (const key of Object.keys(per) as Array<keyof typeof per>) {
    const parts = per[key];
    if (parts.length > 0 && s > 0) parts.unshift(...Array.from({ length: s }, () => zerosLike(parts[0]!)));
  }

  const finalLast = want("logits_all") ? atLast(g, pos, x, [D]) : g.op("Reshape", [x, g.constant("int64", [0, D])]); // [B, D]
  if (want("logits")) g.output("logits", logitsOf(g, c, p, finalLast), "float32", ["batch", V]);
  if (want("logits_all")) {
    const logits = logitsOf(g, c, p, g.op("Reshape", [x, g.constant("int64", [-1, D])])); // [B T, V]
    const dimsBT = g.op("Slice", [g.op("Shape", [x]), g.constant("int64", [0]), g.constant("int64", [2])]);
    g.output(
      "logits_all",
      g.op("Reshape", [logits, g.op("Concat", [dimsBT, g.constant("int64", [V])], { axis: int(0) })]),
      "float32",
      ["batch", "seq", V],
    );
  }
  if (want("final_scale")) g.output("final_scale", normScale(g, finalLast, c.normEps, c.norm), "float32", ["batch"]);
  const dims: Record<keyof typeof per, Array<number | string>> = {
    resid_pre: ["batch", L, D],
    resid_mid: ["batch", L, D],
    attn_out: ["batch", L, D],
    mlp_out: ["batch", L, D],
    mlp_post: ["batch", L, F],
    head_out: ["batch", L, H, D],
    resid_pre_all: ["batch", L, "seq", D],
  };
  for (const key of Object.keys(per) as Array<keyof typeof per>) {
    if (want(key)) g.output(key, stackLayers(g, per[key]), "float32", dims[key]);
  }
  return g.toBytes("cna-sweep");
}

export interface ReadoutVariant {
  /**
   * false: one row per sequence, heads ablated by the head_mask input [B, L, H].
   * true: every single-head ablation of the batch in one run, no head mask (see below).
   */
  sweep: boolean;
  external?: ExternalWeights;
}

/**
 * Top-1 token and P(target) at R read positions per row: the head-ablation graphs.
 *
 * Inputs: input_ids [B, T] int64, read_index [B, R] int64 (positions to read; causal attention
 * makes a read at position p see only tokens 0..p, so one row carries every case whose prompt
 * is a prefix of its sequence), target [B, R] int64, head_mask [B, L, H] (not in the sweep).
 * Outputs: top1 [N, R] (the argmax as float32, the lowest id among equal logits) and
 * target_prob [N, R] (softmax probability of the target).
 *
 * The sweep: the B input rows run clean through every layer; at each layer l, B·H new rows join
 * the batch, each a copy of a clean row's residual entering l and of its per-head value mix z at
 * l with one head of l zeroed. Layer l's attention is not recomputed for them and layers < l
 * never run for them; every row then goes through the same ops to its read-outs, whatever else
 * is in the batch. In a parallel block a new row's MLP reads the norm of the copied residual, so
 * the ablated head changes the next layers only. N = B (1 + L H) rows in the order: clean (B),
 * then for l = 0..L-1 the rows ablating (l, h), case-major, i.e. row B + (l B + b) H + h.
 */
export function buildReadoutGraph(c: ModelConfig, w: ModelWeights, variant: ReadoutVariant): Uint8Array {
  const { nLayer: L, nHead: H, dModel: D, dHead } = c;
  const g = new GraphBuilder(variant.sweep ? `${c.architecture}_head_sweep` : `${c.architecture}_readout`);
  const p = graphParams(g, w, variant.external);
  const ids = g.input("input_ids", "int64", ["batch", "seq"]);
  const readIndex = g.input("read_index", "int64", ["batch", "reads"]);
  const target = g.input("target", "int64", ["batch", "reads"]);
  const headMask = variant.sweep ? null : g.input("head_mask", "float32", ["batch", L, H]);
  const seq = sequence(g, ids);
  const rope = c.rotary === null ? null : ropeTables(g, seq, c.rotary);
  const sweep = variant.sweep ? sweepRows(g, ids, H) : null;

  let x = embed(g, p, ids, seq); // [N, T, D]; [N, R, D] in the last layer
  for (let l = 0; l < L; l++) {
    const lp = p.layer(l);
    let z0 = attentionValues(g, norm(g, x, lp.attnNorm, c.norm, c.normEps), lp.attn, c, seq, rope); // [N, T, H, dh]
    if (l === L - 1) {
      // Only the read positions are read: after attention the last layer runs there only.
      const r = reads(g, seq, sweep ? sweep.perRow(readIndex) : readIndex);
      z0 = readRows(g, r, z0, [H, dHead]); // [N, R, H, dh]
      x = readRows(g, r, x, [D]); // [N, R, D]
    }
    let attnOut: string;
    if (sweep) {
      const grown = sweep.grow(x, z0, D, dHead);
      x = grown.x;
      attnOut = outputProjection(g, grown.z, lp.out, c);
    } else {
      attnOut = attentionOutput(g, z0, layerSlice(g, headMask!, l), lp.out, c).out;
    }
    x = residualBlock(g, c, lp, x, attnOut, null, l).next;
  }
  const logits = logitsOf(g, c, p, g.op("Reshape", [x, g.constant("int64", [-1, D])])); // [N R, V]
  const rowTargets = g.op("Reshape", [sweep ? sweep.perRow(target) : target, g.constant("int64", [-1, 1])]); // [N R, 1]
  const shapeNR = g.op("Slice", [g.op("Shape", [x]), g.constant("int64", [0]), g.constant("int64", [2])]);
  const top1 = g.op("ArgMax", [logits], { axis: int(1), keepdims: int(0), select_last_index: int(0) }); // [N R] int64
  g.output("top1", g.op("Reshape", [g.op("Cast", [top1], { to: int(1) }), shapeNR]), "float32", ["rows", "reads"]);
  const probs = g.op("Softmax", [logits], { axis: int(-1) });
  g.output(
    "target_prob",
    g.op("Reshape", [g.op("GatherElements", [probs, rowTargets], { axis: int(1) }), shapeNR]),
    "float32",
    ["rows", "reads"],
  );
  return g.toBytes("cna-sweep");
}

/** The sweep's row bookkeeping: which input row each row copies, and growing the batch by one layer's ablations. */
function sweepRows(g: GraphBuilder, ids: string, H: number) {
  const bc = g.op("Slice", [g.op("Shape", [ids]), g.constant("int64", [0]), g.constant("int64", [1])]); // [1]: B
  const clean = (t: string) => g.op("Slice", [t, g.constant("int64", [0]), bc, g.constant("int64", [0])]); // the first B rows
  // keep[0, r, 0, h, 0] = 0 where r = h: new row r ablates head r.
  const keep = g.constant(
    "float32",
    Array.from({ length: H * H }, (_, i) => (Math.floor(i / H) === i % H ? 0 : 1)),
    [1, H, 1, H, 1],
  );
  /** [B, H, ...rest] -> [B H, ...rest] */
  const mergeRows = (t: string, rest: number[]) =>
    g.op("Reshape", [g.op("Flatten", [t], { axis: int(2) }), g.constant("int64", [0, -1, ...rest])]);
  const cases = g.op("Range", [
    g.constant("int64", [0], []),
    g.op("Squeeze", [bc, g.constant("int64", [0])]),
    g.constant("int64", [1], []),
  ]); // [B]
  const newRowCases = g.op("Reshape", [
    g.op("Tile", [g.op("Unsqueeze", [cases, g.constant("int64", [1])]), g.constant("int64", [1, H])]),
    g.constant("int64", [-1]),
  ]);
  let rowCases = cases; // [N]: the input row each row copies
  return {
    /** [B, ...] input per row -> [N, ...] */
    perRow: (t: string) => g.op("Gather", [t, rowCases], { axis: int(0) }),
    /** x [N, S, D], z0 [N, S, H, dh] -> the same with B H rows appended that ablate one head each. */
    grow: (x: string, z0: string, D: number, dHead: number) => {
      const zNew = mergeRows(g.op("Mul", [g.op("Unsqueeze", [clean(z0), g.constant("int64", [1])]), keep]), [H, dHead]); // [B H, S, H, dh]
      const xNew = mergeRows(
        g.op("Expand", [g.op("Unsqueeze", [clean(x), g.constant("int64", [1])]), g.constant("int64", [1, H, 1, 1])]),
        [D],
      );
      rowCases = g.op("Concat", [rowCases, newRowCases], { axis: int(0) });
      return { x: g.op("Concat", [x, xNew], { axis: int(0) }), z: g.op("Concat", [z0, zNew], { axis: int(0) }) };
    },
  };
}

/**
 * The rest of a layer once its attention output A is known, x [B, T, D]: mid = x + A, the MLP
 * (on the norm of mid, or of x in parallel blocks) with its coefficients scaled by the layer's
 * neuron mask [B, F] if any, and the residual leaving the layer.
 */
function residualBlock(
  g: GraphBuilder,
  c: ModelConfig,
  lp: LayerParams,
  x: string,
  attnOut: string,
  neuronMask: string | null,
  l: number,
) {
  const mid = g.op("Add", [x, attnOut], {}, `resid_mid${l}`);
  if (c.parallel === "none") {
    const ffn = mlp(g, c, lp, norm(g, mid, lp.mlpNorm!, c.norm, c.normEps), neuronMask);
    return { mid, ffn, next: g.op("Add", [mid, ffn.out], {}, `resid_post${l}`) };
  }
  // GPT-NeoX reads x through its second norm, GPT-J through the attention's own ln_1; both add
  // attention and MLP outputs to x at once (transformers: mlp + attn + x).
  const ffn = mlp(g, c, lp, norm(g, x, lp.mlpNorm ?? lp.attnNorm, c.norm, c.normEps), neuronMask);
  return { mid, ffn, next: g.op("Add", [g.op("Add", [ffn.out, attnOut]), x], {}, `resid_post${l}`) };
}

/** Token (plus learned position) embedding: ids [B, T] -> [B, T, D]. */
function embed(g: GraphBuilder, p: GraphParams, ids: string, pos: Sequence): string {
  const tokens = g.op("Gather", [p.embed().name, ids], { axis: int(0) });
  const learned = p.positions();
  return learned === undefined
    ? tokens
    : g.op("Add", [tokens, g.op("Gather", [learned.name, pos.range], { axis: int(0) })], {}, "embed");
}

/** The FFN on its normed input [B, T, D]: coefficients m (times the neuron mask [B, F], if any) and its output. */
function mlp(
  g: GraphBuilder,
  c: ModelConfig,
  lp: LayerParams,
  input: string,
  neuronMask: string | null,
): { post: string; out: string } {
  const pre = project(g, input, lp.mlpIn); // [B, T, F]: fc, or SwiGLU's up
  const act =
    c.mlp === "swiglu"
      ? g.op("Mul", [silu(g, project(g, input, lp.mlpGate!)), pre], {}, "swiglu")
      : c.activation === "gelu_new"
        ? geluTanh(g, pre)
        : geluErf(g, pre);
  const post =
    neuronMask === null
      ? act
      : g.op("Mul", [act, g.op("Unsqueeze", [neuronMask, g.constant("int64", [1])])], {}, "mlp_post");
  return { post, out: project(g, post, lp.mlpOut) };
}

/** Logits of x [B, D] through the final norm and the unembedding (with its bias, if any): [B, V]. */
function logitsOf(g: GraphBuilder, c: ModelConfig, p: GraphParams, x: string): string {
  const normed = norm(g, x, p.finalNorm(), c.norm, c.normEps);
  const bias = p.unembedBias();
  return g.op(
    "Gemm",
    bias === undefined ? [normed, p.unembed().name] : [normed, p.unembed().name, bias.name],
    { transB: int(1) },
    "logits",
  );
}
