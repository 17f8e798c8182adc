/**
 * The ONNX graph builders for the `gpt2` family (pre-LN, learned positions, GELU MLP, tied
 * unembedding).
 *
 * buildGpt2Graph: one graph per variant (start layer, output set, neuron mask or none); an
 * analysis builds the variant it needs.
 * Inputs:  input_ids [B, T] int64 (start layer 0) or resid_in [B, T, D] (start layer s > 0),
 *          last_index [B] int64, head_mask [B, L, H], neuron_mask [B, L, F] (unless the variant
 *          has none).
 * Outputs (any subset, all at the last real position unless noted): logits [B, V],
 *          resid_pre / resid_mid / attn_out / mlp_out [B, L, D], mlp_post [B, L, F],
 *          head_out [B, L, H, D], final_scale [B]; at every position: resid_pre_all
 *          [B, L, T, D] and logits_all [B, T, V].
 * Layers before the start layer are absent; their slots in the per-layer outputs are zeros.
 * Unless logits_all is asked for, the last layer runs W_O and the MLP at the last position only:
 * nothing else is read there.
 *
 * buildReadoutGraph: top-1 token and P(target) at chosen positions of each row, for head
 * ablation (per head, or every head of a batch of cases in one run).
 */
import type { ModelConfig } from "../model/config.ts";
import type { Affine, Gpt2Weights, Tensor } from "../model/gpt2-weights.ts";
import { GraphBuilder, int } from "./graph.ts";
import type { ExternalRef } from "./graph.ts";
import {
  atLast, attentionOutput, attentionValues, geluErf, geluTanh, headOutputs, layerNorm, layerSlice, linear, normScale, positions,
  readRows, reads, sequence, stackLayers,
} from "./pieces.ts";
import type { OutParams, Param, QkvParams, Sequence } from "./pieces.ts";

export const GRAPH_OUTPUTS = [
  "logits", "resid_pre", "resid_mid", "attn_out", "mlp_out", "mlp_post", "head_out", "final_scale", "resid_pre_all", "logits_all",
] as const;
export type GraphOutput = (typeof GRAPH_OUTPUTS)[number];

export interface Gpt2Variant {
  startLayer: number;
  /** Whether the graph takes a neuron_mask input (default true); without one no FFN coefficient is scaled. */
  neuronMask?: boolean;
  outputs: ReadonlySet<GraphOutput>;
  /**
   * Where an initializer's bytes are in a file next to the .onnx (external data), or undefined
   * to copy them into the graph. Large checkpoints point into their safetensors file.
   */
  external?: (t: Tensor) => ExternalRef | undefined;
}

export function buildGpt2Graph(shape: ModelConfig, w: Gpt2Weights, variant: Gpt2Variant): Uint8Array {
  const { nLayer: L, nHead: H, dModel: D, dMlp: F, vocabSize: V, normEps: eps } = shape;
  const dHead = D / H;
  const s = variant.startLayer;
  if (!Number.isInteger(s) || s < 0 || s >= L) throw new RangeError(`start layer ${s} is outside 0..${L - 1}`);
  const want = (o: GraphOutput) => variant.outputs.has(o);
  const g = new GraphBuilder(`gpt2_from_${s}`);
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

  const per: Record<"resid_pre" | "resid_mid" | "attn_out" | "mlp_out" | "mlp_post" | "head_out" | "resid_pre_all", string[]> = {
    resid_pre: [], resid_mid: [], attn_out: [], mlp_out: [], mlp_post: [], head_out: [], resid_pre_all: [],
  };
  const zerosLike = (template: string) => g.op("Mul", [template, g.scalar(0)]);
  for (let l = s; l < L; l++) {
    const lp = p.layer(l);
    const narrow = l === L - 1 && !want("logits_all");
    const at = (t: string, rest: number[]) => (narrow ? g.op("Reshape", [t, g.constant("int64", [0, ...rest])]) : atLast(g, pos, t, rest));
    if (want("resid_pre_all")) per.resid_pre_all.push(x);
    let z0 = attentionValues(g, layerNorm(g, x, lp.ln1.weight, lp.ln1.bias, eps), lp.qkv, H, dHead, pos); // [B, T, H, dh]
    if (narrow) {
      z0 = readRows(g, pos.last, z0, [H, dHead]); // [B, 1, H, dh]
      x = readRows(g, pos.last, x, [D]); // [B, 1, D]
    }
    if (want("resid_pre")) per.resid_pre.push(at(x, [D]));
    const attn = attentionOutput(g, z0, layerSlice(g, headMask, l), lp.out, H, dHead);
    if (want("head_out")) per.head_out.push(headOutputs(g, at(attn.z, [H, dHead]), lp.out.out, H, dHead));
    if (want("attn_out")) per.attn_out.push(at(attn.out, [D]));
    x = g.op("Add", [x, attn.out], {}, `resid_mid${l}`);
    if (want("resid_mid")) per.resid_mid.push(at(x, [D]));
    const ffn = mlp(g, shape, lp, x, neuronMask === null ? null : layerSlice(g, neuronMask, l));
    if (want("mlp_post")) per.mlp_post.push(at(ffn.post, [F]));
    if (want("mlp_out")) per.mlp_out.push(at(ffn.out, [D]));
    x = g.op("Add", [x, ffn.out], {}, `resid_post${l}`);
  }
  // Layers before the start layer have no values; fill their slots with zeros of the right shape.
  for (const key of Object.keys(per) as Array<keyof typeof per>) {
    const parts = per[key];
    if (parts.length > 0 && s > 0) parts.unshift(...Array.from({ length: s }, () => zerosLike(parts[0]!)));
  }

  const finalLast = want("logits_all") ? atLast(g, pos, x, [D]) : g.op("Reshape", [x, g.constant("int64", [0, D])]); // [B, D]
  if (want("logits")) g.output("logits", logitsOf(g, shape, p, finalLast), "float32", ["batch", V]);
  if (want("logits_all")) {
    const logits = logitsOf(g, shape, p, g.op("Reshape", [x, g.constant("int64", [-1, D])])); // [B T, V]
    const dimsBT = g.op("Slice", [g.op("Shape", [x]), g.constant("int64", [0]), g.constant("int64", [2])]);
    g.output("logits_all", g.op("Reshape", [logits, g.op("Concat", [dimsBT, g.constant("int64", [V])], { axis: int(0) })]), "float32", ["batch", "seq", V]);
  }
  if (want("final_scale")) g.output("final_scale", normScale(g, finalLast, eps), "float32", ["batch"]);
  const dims: Record<keyof typeof per, Array<number | string>> = {
    resid_pre: ["batch", L, D], resid_mid: ["batch", L, D], attn_out: ["batch", L, D], mlp_out: ["batch", L, D],
    mlp_post: ["batch", L, F], head_out: ["batch", L, H, D], resid_pre_all: ["batch", L, "seq", D],
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
  external?: Gpt2Variant["external"];
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
 * is in the batch. N = B (1 + L H) rows in the order: clean (B), then for l = 0..L-1 the rows
 * ablating (l, h), case-major, i.e. row B + (l B + b) H + h.
 */
export function buildReadoutGraph(shape: ModelConfig, w: Gpt2Weights, variant: ReadoutVariant): Uint8Array {
  const { nLayer: L, nHead: H, dModel: D, normEps: eps } = shape;
  const dHead = D / H;
  const g = new GraphBuilder(variant.sweep ? "gpt2_head_sweep" : "gpt2_readout");
  const p = graphParams(g, w, variant.external);
  const ids = g.input("input_ids", "int64", ["batch", "seq"]);
  const readIndex = g.input("read_index", "int64", ["batch", "reads"]);
  const target = g.input("target", "int64", ["batch", "reads"]);
  const headMask = variant.sweep ? null : g.input("head_mask", "float32", ["batch", L, H]);
  const seq = sequence(g, ids);
  const sweep = variant.sweep ? sweepRows(g, ids, H) : null;

  let x = embed(g, p, ids, seq); // [N, T, D]; [N, R, D] in the last layer
  for (let l = 0; l < L; l++) {
    const lp = p.layer(l);
    let z0 = attentionValues(g, layerNorm(g, x, lp.ln1.weight, lp.ln1.bias, eps), lp.qkv, H, dHead, seq); // [N, T, H, dh]
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
      attnOut = linear(g, g.op("Reshape", [grown.z, g.constant("int64", [0, 0, D])]), lp.out.out, lp.out.outBias);
    } else {
      attnOut = attentionOutput(g, z0, layerSlice(g, headMask!, l), lp.out, H, dHead).out;
    }
    x = g.op("Add", [x, attnOut], {}, `resid_mid${l}`);
    x = g.op("Add", [x, mlp(g, shape, lp, x, null).out], {}, `resid_post${l}`);
  }
  const logits = logitsOf(g, shape, p, g.op("Reshape", [x, g.constant("int64", [-1, D])])); // [N R, V]
  const rowTargets = g.op("Reshape", [sweep ? sweep.perRow(target) : target, g.constant("int64", [-1, 1])]); // [N R, 1]
  const shapeNR = g.op("Slice", [g.op("Shape", [x]), g.constant("int64", [0]), g.constant("int64", [2])]);
  const top1 = g.op("ArgMax", [logits], { axis: int(1), keepdims: int(0), select_last_index: int(0) }); // [N R] int64
  g.output("top1", g.op("Reshape", [g.op("Cast", [top1], { to: int(1) }), shapeNR]), "float32", ["rows", "reads"]);
  const probs = g.op("Softmax", [logits], { axis: int(-1) });
  g.output("target_prob", g.op("Reshape", [g.op("GatherElements", [probs, rowTargets], { axis: int(1) }), shapeNR]), "float32", ["rows", "reads"]);
  return g.toBytes("cna-sweep");
}

/** The sweep's row bookkeeping: which input row each row copies, and growing the batch by one layer's ablations. */
function sweepRows(g: GraphBuilder, ids: string, H: number) {
  const bc = g.op("Slice", [g.op("Shape", [ids]), g.constant("int64", [0]), g.constant("int64", [1])]); // [1]: B
  const clean = (t: string) => g.op("Slice", [t, g.constant("int64", [0]), bc, g.constant("int64", [0])]); // the first B rows
  // keep[0, r, 0, h, 0] = 0 where r = h: new row r ablates head r.
  const keep = g.constant("float32", Array.from({ length: H * H }, (_, i) => (Math.floor(i / H) === i % H ? 0 : 1)), [1, H, 1, H, 1]);
  /** [B, H, ...rest] -> [B H, ...rest] */
  const mergeRows = (t: string, rest: number[]) => g.op("Reshape", [g.op("Flatten", [t], { axis: int(2) }), g.constant("int64", [0, -1, ...rest])]);
  const cases = g.op("Range", [g.constant("int64", [0], []), g.op("Squeeze", [bc, g.constant("int64", [0])]), g.constant("int64", [1], [])]); // [B]
  const newRowCases = g.op("Reshape", [g.op("Tile", [g.op("Unsqueeze", [cases, g.constant("int64", [1])]), g.constant("int64", [1, H])]), g.constant("int64", [-1])]);
  let rowCases = cases; // [N]: the input row each row copies
  return {
    /** [B, ...] input per row -> [N, ...] */
    perRow: (t: string) => g.op("Gather", [t, rowCases], { axis: int(0) }),
    /** x [N, S, D], z0 [N, S, H, dh] -> the same with B H rows appended that ablate one head each. */
    grow: (x: string, z0: string, D: number, dHead: number) => {
      const zNew = mergeRows(g.op("Mul", [g.op("Unsqueeze", [clean(z0), g.constant("int64", [1])]), keep]), [H, dHead]); // [B H, S, H, dh]
      const xNew = mergeRows(g.op("Expand", [g.op("Unsqueeze", [clean(x), g.constant("int64", [1])]), g.constant("int64", [1, H, 1, 1])]), [D]);
      rowCases = g.op("Concat", [rowCases, newRowCases], { axis: int(0) });
      return { x: g.op("Concat", [x, xNew], { axis: int(0) }), z: g.op("Concat", [z0, zNew], { axis: int(0) }) };
    },
  };
}

interface LayerParams {
  ln1: AffineParams;
  qkv: QkvParams;
  out: OutParams;
  ln2: AffineParams;
  fcIn: AffineParams;
  fcOut: AffineParams;
}

interface AffineParams {
  weight: Param;
  bias: Param;
}

/** The checkpoint's weights as graph initializers, each added on first use. */
function graphParams(g: GraphBuilder, w: Gpt2Weights, external: Gpt2Variant["external"]) {
  const param = (hint: string, t: Tensor): Param => {
    const ref = external?.(t);
    return { name: ref ? g.externalWeight(hint, t.shape, ref) : g.weight(hint, t.data, t.shape), shape: t.shape };
  };
  const affine = (hint: string, a: Affine): AffineParams => ({ weight: param(`${hint}_w`, a.weight), bias: param(`${hint}_b`, a.bias) });
  const once = <T>(make: () => T) => {
    let value: T | undefined;
    return () => (value ??= make());
  };
  const layers = w.layers.map((lw, l) => once((): LayerParams => {
    const qkv = affine(`l${l}_qkv`, lw.attnQkv);
    const out = affine(`l${l}_o`, lw.attnOut);
    return {
      ln1: affine(`l${l}_ln1`, lw.ln1), qkv: { qkv: qkv.weight, qkvBias: qkv.bias }, out: { out: out.weight, outBias: out.bias },
      ln2: affine(`l${l}_ln2`, lw.ln2), fcIn: affine(`l${l}_fc`, lw.mlpIn), fcOut: affine(`l${l}_proj`, lw.mlpOut),
    };
  }));
  return { wte: once(() => param("wte", w.wte)), wpe: once(() => param("wpe", w.wpe)), lnF: once(() => affine("ln_f", w.lnF)), layer: (l: number) => layers[l]!() };
}

type GraphParams = ReturnType<typeof graphParams>;

/** Token plus position embedding: ids [B, T] -> [B, T, D]. */
function embed(g: GraphBuilder, p: GraphParams, ids: string, pos: Sequence): string {
  return g.op("Add", [g.op("Gather", [p.wte().name, ids], { axis: int(0) }), g.op("Gather", [p.wpe().name, pos.range], { axis: int(0) })], {}, "embed");
}

/** The FFN of one layer on x [B, T, D]: coefficients m (times the layer's neuron mask [B, F], if any) and its output. */
function mlp(g: GraphBuilder, shape: ModelConfig, lp: LayerParams, x: string, neuronMask: string | null): { post: string; out: string } {
  const pre = linear(g, layerNorm(g, x, lp.ln2.weight, lp.ln2.bias, shape.normEps), lp.fcIn.weight, lp.fcIn.bias); // [B, T, F]
  const act = shape.activation === "gelu_new" ? geluTanh(g, pre) : geluErf(g, pre);
  const post = neuronMask === null ? act : g.op("Mul", [act, g.op("Unsqueeze", [neuronMask, g.constant("int64", [1])])], {}, "mlp_post");
  return { post, out: linear(g, post, lp.fcOut.weight, lp.fcOut.bias) };
}

/** Logits of x [B, D] through the final norm and the tied unembedding: [B, V]. */
function logitsOf(g: GraphBuilder, shape: ModelConfig, p: GraphParams, x: string): string {
  const normed = layerNorm(g, x, p.lnF().weight, p.lnF().bias, shape.normEps);
  return g.op("Gemm", [normed, p.wte().name], { transB: int(1) }, "logits");
}
