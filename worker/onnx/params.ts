/**
 * A checkpoint's weights as graph initializers, each added on first use: copied into the graph,
 * or, with external data, pointing at the float32 bytes in a file (the checkpoint, or the
 * converted cache of a half-precision checkpoint).
 */
import { tensorKey } from "../model/weights.ts";
import type { Linear, ModelWeights, Norm, Tensor } from "../model/weights.ts";
import type { GraphBuilder, ExternalRef } from "./graph.ts";
import type { AttentionParams, QkvParams } from "./attention.ts";
import type { NormParams, Param, Proj } from "./pieces.ts";

/** Where an initializer's bytes are in a file next to the .onnx (external data), or undefined to copy them into the graph. */
export type ExternalWeights = (t: Tensor) => ExternalRef | undefined;

export interface LayerParams {
  attnNorm: NormParams;
  attn: AttentionParams;
  out: Proj;
  mlpNorm?: NormParams;
  mlpIn: Proj;
  mlpGate?: Proj;
  mlpOut: Proj;
}

export interface GraphParams {
  embed(): Param;
  positions(): Param | undefined;
  finalNorm(): NormParams;
  unembed(): Param;
  unembedBias(): Param | undefined;
  layer(l: number): LayerParams;
}

export function graphParams(g: GraphBuilder, w: ModelWeights, external: ExternalWeights | undefined): GraphParams {
  const transposed = w.layout === "out-in";
  const param = (hint: string, t: Tensor): Param => {
    const ref = external?.(t);
    return { name: ref ? g.externalWeight(hint, t.shape, ref) : g.weight(hint, t.data, t.shape), shape: t.shape };
  };
  const proj = (hint: string, l: Linear): Proj => {
    const p: Proj = { weight: param(`${hint}_w`, l.weight), transposed };
    if (l.bias) p.bias = param(`${hint}_b`, l.bias);
    return p;
  };
  const norm = (hint: string, n: Norm): NormParams =>
    n.bias
      ? { weight: param(`${hint}_w`, n.weight), bias: param(`${hint}_b`, n.bias) }
      : { weight: param(`${hint}_w`, n.weight) };
  const once = <T>(make: () => T) => {
    let value: T | undefined;
    let made = false;
    return () => {
      if (!made) [value, made] = [make(), true];
      return value as T;
    };
  };
  const layers = w.layers.map((lw, l) =>
    once((): LayerParams => {
      const qkv: QkvParams =
        "fused" in lw.qkv
          ? { fused: proj(`l${l}_qkv`, lw.qkv.fused), order: lw.qkv.order }
          : { q: proj(`l${l}_q`, lw.qkv.q), k: proj(`l${l}_k`, lw.qkv.k), v: proj(`l${l}_v`, lw.qkv.v) };
      const attn: AttentionParams = { qkv };
      if (lw.qNorm) attn.qNorm = param(`l${l}_qnorm`, lw.qNorm);
      if (lw.kNorm) attn.kNorm = param(`l${l}_knorm`, lw.kNorm);
      const p: LayerParams = {
        attnNorm: norm(`l${l}_ln1`, lw.attnNorm),
        attn,
        out: proj(`l${l}_o`, lw.out),
        mlpIn: proj(`l${l}_fc`, lw.mlpIn),
        mlpOut: proj(`l${l}_proj`, lw.mlpOut),
      };
      if (lw.mlpNorm) p.mlpNorm = norm(`l${l}_ln2`, lw.mlpNorm);
      if (lw.mlpGate) p.mlpGate = proj(`l${l}_gate`, lw.mlpGate);
      return p;
    }),
  );
  const embed = once(() => param("wte", w.embed));
  return {
    embed,
    positions: once(() => (w.positions ? param("wpe", w.positions) : undefined)),
    finalNorm: once(() => norm("ln_f", w.finalNorm)),
    // a tied unembedding is the embedding's initializer, not a second copy
    unembed: once(() => (tensorKey(w.unembed) === tensorKey(w.embed) ? embed() : param("w_u", w.unembed))),
    unembedBias: once(() => (w.unembedBias ? param("b_u", w.unembedBias) : undefined)),
    layer: (l) => layers[l]!(),
  };
}
