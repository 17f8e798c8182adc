/**
 * The ONNX graph builder for the `gpt2` family (pre-LN, learned positions, GELU MLP, tied
 * unembedding). One graph per (start layer, output set): an analysis builds the variant it needs.
 *
 * Inputs:  input_ids [B, T] int64 (start layer 0) or resid_in [B, T, D] (start layer s > 0),
 *          last_index [B] int64, head_mask [B, L, H], neuron_mask [B, L, F].
 * Outputs (any subset, all at the last real position unless noted): logits [B, V],
 *          resid_pre / resid_mid / attn_out / mlp_out [B, L, D], mlp_post [B, L, F],
 *          head_out [B, L, H, D], final_scale [B], resid_pre_all [B, L, T, D] (every position).
 * Layers before the start layer are absent; their slots in the per-layer outputs are zeros.
 */
import { GraphBuilder, int } from "./graph.ts";
import type { ExternalRef } from "./graph.ts";
import {
  atLast, attention, geluErf, geluTanh, headOutputs, layerNorm, layerSlice, linear, normScale, positions, stackLayers,
} from "./pieces.ts";
import type { Param } from "./pieces.ts";

export const GRAPH_OUTPUTS = [
  "logits", "resid_pre", "resid_mid", "attn_out", "mlp_out", "mlp_post", "head_out", "final_scale", "resid_pre_all",
] as const;
export type GraphOutput = (typeof GRAPH_OUTPUTS)[number];

/** A weight tensor: its values, and where the same bytes sit in a file the graph may point into. */
export interface WeightTensor {
  data: Float32Array;
  shape: number[];
  source?: { file: string; offset: number; length: number };
}

interface AffineWeights {
  weight: WeightTensor;
  bias: WeightTensor;
}

export interface Gpt2GraphWeights {
  wte: WeightTensor; // [V, D]
  wpe: WeightTensor; // [P, D]
  layers: Array<{
    ln1: AffineWeights; // [D]
    attnQkv: AffineWeights; // [D, 3D], [3D]
    attnOut: AffineWeights; // [D, D], [D]
    ln2: AffineWeights; // [D]
    mlpIn: AffineWeights; // [D, F], [F]
    mlpOut: AffineWeights; // [F, D], [D]
  }>;
  lnF: AffineWeights; // [D]
}

export interface Gpt2GraphShape {
  nLayer: number;
  nHead: number;
  dModel: number;
  dMlp: number;
  vocabSize: number;
  layerNormEps: number;
  activation: "gelu_new" | "gelu";
}

export interface Gpt2Variant {
  startLayer: number;
  outputs: ReadonlySet<GraphOutput>;
  /**
   * Where an initializer's bytes are in a file next to the .onnx (external data), or undefined
   * to copy them into the graph. Large checkpoints point into their safetensors file.
   */
  external?: (t: WeightTensor) => ExternalRef | undefined;
}

export function buildGpt2Graph(shape: Gpt2GraphShape, w: Gpt2GraphWeights, variant: Gpt2Variant): Uint8Array {
  const { nLayer: L, nHead: H, dModel: D, dMlp: F, vocabSize: V, layerNormEps: eps } = shape;
  const dHead = D / H;
  const s = variant.startLayer;
  if (!Number.isInteger(s) || s < 0 || s >= L) throw new RangeError(`start layer ${s} is outside 0..${L - 1}`);
  const want = (o: GraphOutput) => variant.outputs.has(o);
  const g = new GraphBuilder(`gpt2_from_${s}`);
  const param = (hint: string, t: WeightTensor): Param => {
    const ref = variant.external?.(t);
    return { name: ref ? g.externalWeight(hint, t.shape, ref) : g.weight(hint, t.data, t.shape), shape: t.shape };
  };
  const affine = (hint: string, a: AffineWeights) => ({ weight: param(`${hint}_w`, a.weight), bias: param(`${hint}_b`, a.bias) });

  const lastIndex = g.input("last_index", "int64", ["batch"]);
  const headMask = g.input("head_mask", "float32", ["batch", L, H]);
  const neuronMask = g.input("neuron_mask", "float32", ["batch", L, F]);
  const wte = param("wte", w.wte);

  let x: string; // [B, T, D]
  let pos;
  if (s === 0) {
    const ids = g.input("input_ids", "int64", ["batch", "seq"]);
    pos = positions(g, ids, lastIndex);
    const wpe = param("wpe", w.wpe);
    x = g.op("Add", [g.op("Gather", [wte.name, ids], { axis: int(0) }), g.op("Gather", [wpe.name, pos.range], { axis: int(0) })], {}, "embed");
  } else {
    x = g.input("resid_in", "float32", ["batch", "seq", D]);
    pos = positions(g, x, lastIndex);
  }

  const per: Record<"resid_pre" | "resid_mid" | "attn_out" | "mlp_out" | "mlp_post" | "head_out" | "resid_pre_all", string[]> = {
    resid_pre: [], resid_mid: [], attn_out: [], mlp_out: [], mlp_post: [], head_out: [], resid_pre_all: [],
  };
  const zerosLike = (template: string) => g.op("Mul", [template, g.scalar(0)]);
  for (let l = 0; l < L; l++) {
    if (l < s) continue;
    const lw = w.layers[l]!;
    if (want("resid_pre")) per.resid_pre.push(atLast(g, pos, x, [D]));
    if (want("resid_pre_all")) per.resid_pre_all.push(x);
    const ln1 = affine(`l${l}_ln1`, lw.ln1);
    const qkv = affine(`l${l}_qkv`, lw.attnQkv);
    const out = affine(`l${l}_o`, lw.attnOut);
    const attn = attention(g, layerNorm(g, x, ln1.weight, ln1.bias, eps),
      { qkv: qkv.weight, qkvBias: qkv.bias, out: out.weight, outBias: out.bias }, H, dHead, pos, layerSlice(g, headMask, l));
    if (want("head_out")) per.head_out.push(headOutputs(g, atLast(g, pos, attn.z, [H, dHead]), out.weight, H, dHead));
    if (want("attn_out")) per.attn_out.push(atLast(g, pos, attn.out, [D]));
    x = g.op("Add", [x, attn.out], {}, `resid_mid${l}`);
    if (want("resid_mid")) per.resid_mid.push(atLast(g, pos, x, [D]));
    const ln2 = affine(`l${l}_ln2`, lw.ln2);
    const fcIn = affine(`l${l}_fc`, lw.mlpIn);
    const fcOut = affine(`l${l}_proj`, lw.mlpOut);
    const pre = linear(g, layerNorm(g, x, ln2.weight, ln2.bias, eps), fcIn.weight, fcIn.bias); // [B, T, F]
    const act = shape.activation === "gelu_new" ? geluTanh(g, pre) : geluErf(g, pre);
    const nmask = g.op("Unsqueeze", [layerSlice(g, neuronMask, l), g.constant("int64", [1])]); // [B, 1, F]
    const m = g.op("Mul", [act, nmask], {}, `mlp_post${l}`); // [B, T, F]
    if (want("mlp_post")) per.mlp_post.push(atLast(g, pos, m, [F]));
    const mlp = linear(g, m, fcOut.weight, fcOut.bias);
    if (want("mlp_out")) per.mlp_out.push(atLast(g, pos, mlp, [D]));
    x = g.op("Add", [x, mlp], {}, `resid_post${l}`);
  }
  // Layers before the start layer have no values; fill their slots with zeros of the right shape.
  for (const key of Object.keys(per) as Array<keyof typeof per>) {
    const parts = per[key];
    if (parts.length > 0 && s > 0) parts.unshift(...Array.from({ length: s }, () => zerosLike(parts[0]!)));
  }

  const finalLast = atLast(g, pos, x, [D]); // [B, D]
  if (want("logits")) {
    const lnF = affine("ln_f", w.lnF);
    const normed = layerNorm(g, finalLast, lnF.weight, lnF.bias, eps);
    const logits = g.op("Gemm", [normed, wte.name], { transB: int(1) }, "logits"); // [B, V]
    g.output("logits", logits, "float32", ["batch", V]);
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
