/**
 * Attention for every family: q, k and v from the checkpoint's projections (fused in GPT-2's
 * blocks or GPT-NeoX's per-head order, or separate), optional per-head q/k RMSNorm (Qwen3),
 * rotary, and grouped-query attention, down to the per-head value mix z that the head mask
 * scales before W_O (docs/method.md §2: under GQA a head is a query head; the shared keys and
 * values are never masked).
 *
 * GQA without copying keys: q [B, T, H, dh] is viewed as [B, Hkv, H/Hkv, T, dh] and multiplied
 * with k [B, Hkv, 1, dh, T], so query head h = kv * (H/Hkv) + r reads kv head h / (H/Hkv), as
 * transformers' repeat_kv arranges them.
 */
import type { ModelConfig } from "../model/config.ts";
import { int, ints, type GraphBuilder } from "./graph.ts";
import { attentionValues as blockAttentionValues, project, rmsNorm } from "./pieces.ts";
import type { Param, Proj, Sequence } from "./pieces.ts";
import { applyRotary } from "./rotary.ts";
import type { RopeTables } from "./rotary.ts";

export type QkvParams = { fused: Proj; order: "blocks" | "per-head" } | { q: Proj; k: Proj; v: Proj };

export interface AttentionParams {
  qkv: QkvParams;
  qNorm?: Param;
  kNorm?: Param;
}

/**
 * Causal per-head value mix at every position, before any head mask: h [B, T, D] (the normed
 * residual) -> z0 [B, T, H, dh]. Every query is computed, whatever is read later, so a read's
 * numbers never depend on which other positions or rows are read with it.
 */
export function attentionValues(
  g: GraphBuilder,
  h: string,
  p: AttentionParams,
  c: ModelConfig,
  seq: Sequence,
  rope: RopeTables | null,
): string {
  const { nHead: H, nKvHead: Hkv, dHead: dh } = c;
  const qkv = p.qkv;
  // GPT-2's fused blocks without rotary: the original piece, so its numbers stay bit-identical.
  if ("fused" in qkv && qkv.order === "blocks" && !qkv.fused.transposed && rope === null && Hkv === H && !p.qNorm) {
    return blockAttentionValues(g, h, { qkv: qkv.fused.weight, qkvBias: qkv.fused.bias! }, H, dh, seq);
  }
  let q: string, k: string, v: string; // [B, T, heads, dh]
  if ("fused" in qkv) {
    const all = project(g, h, qkv.fused); // [B, T, 3 H dh]
    if (qkv.order === "per-head") {
      // GPT-NeoX: [B, T, H, 3 dh], each head's q | k | v
      [q, k, v] = g.opN(
        "Split",
        [g.op("Reshape", [all, g.constant("int64", [0, 0, H, 3 * dh])]), g.constant("int64", [dh, dh, dh])],
        3,
        { axis: int(3) },
        "qkv",
      ) as [string, string, string];
    } else {
      const parts = g.opN("Split", [all, g.constant("int64", [H * dh, H * dh, H * dh])], 3, { axis: int(2) }, "qkv");
      [q, k, v] = parts.map((t) => g.op("Reshape", [t, g.constant("int64", [0, 0, H, dh])])) as [
        string,
        string,
        string,
      ];
    }
  } else {
    const heads = (t: string, n: number) => g.op("Reshape", [t, g.constant("int64", [0, 0, n, dh])]);
    q = heads(project(g, h, qkv.q), H);
    k = heads(project(g, h, qkv.k), Hkv);
    v = heads(project(g, h, qkv.v), Hkv);
  }
  if (p.qNorm) q = rmsNorm(g, q, p.qNorm, c.normEps);
  if (p.kNorm) k = rmsNorm(g, k, p.kNorm, c.normEps);
  if (rope !== null) {
    q = applyRotary(g, q, rope, c.rotary!, dh);
    k = applyRotary(g, k, rope, c.rotary!, dh);
  }
  const rep = H / Hkv;
  const qg = g.op("Transpose", [g.op("Reshape", [q, g.constant("int64", [0, 0, Hkv, rep, dh])])], {
    perm: ints([0, 2, 3, 1, 4]),
  }); // [B, Hkv, rep, T, dh]
  const kt = g.op("Unsqueeze", [g.op("Transpose", [k], { perm: ints([0, 2, 3, 1]) }), g.constant("int64", [2])]); // [B, Hkv, 1, dh, T]
  const vg = g.op("Unsqueeze", [g.op("Transpose", [v], { perm: ints([0, 2, 1, 3]) }), g.constant("int64", [2])]); // [B, Hkv, 1, T, dh]
  const scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [qg, kt]), g.scalar(1 / Math.sqrt(dh))]), seq.causalBias]); // [B, Hkv, rep, T, T]
  const mixed = g.op("MatMul", [g.op("Softmax", [scores], { axis: int(-1) }), vg]); // [B, Hkv, rep, T, dh]
  return g.op("Reshape", [
    g.op("Transpose", [mixed], { perm: ints([0, 3, 1, 2, 4]) }),
    g.constant("int64", [0, 0, H, dh]),
  ]); // [B, T, H, dh]
}

export interface AttentionResult {
  /** [B, T, D] attention output including its bias */
  out: string;
  /** [B, T, H, dh] per-head value mix after the head mask */
  z: string;
}

/** W_O applied to z [B, T, H, dh]: the attention output [B, T, D] with its bias. */
export function outputProjection(g: GraphBuilder, z: string, out: Proj, c: ModelConfig): string {
  return project(g, g.op("Reshape", [z, g.constant("int64", [0, 0, c.nHead * c.dHead])]), out);
}

/** Applies the head mask ([B, H], 1 keeps a head, 0 ablates it) to z0 and projects through W_O. */
export function attentionOutput(
  g: GraphBuilder,
  z0: string,
  headMask: string,
  out: Proj,
  c: ModelConfig,
): AttentionResult {
  const mask = g.op("Unsqueeze", [headMask, g.constant("int64", [1, 3])]); // [B, 1, H, 1]
  const z = g.op("Mul", [z0, mask], {}, "z");
  return { out: outputProjection(g, z, out, c), z };
}

/**
 * Each head's contribution to the residual at the last position, without the output bias:
 * z_last [B, H, dh] times W_O split per head [H, dh, D] -> [B, H, D]. An [out, in] W_O is
 * transposed per head here (folded once into this graph's constants; only the attribution
 * forward asks for head outputs).
 */
export function headOutputs(g: GraphBuilder, zLast: string, out: Proj, c: ModelConfig): string {
  const { nHead: H, dHead: dh, dModel: D } = c;
  const perHead = out.transposed
    ? g.op("Transpose", [g.op("Reshape", [out.weight.name, g.constant("int64", [D, H, dh])])], {
        perm: ints([1, 2, 0]),
      })
    : g.op("Reshape", [out.weight.name, g.constant("int64", [H, dh, D])]); // [H, dh, D]
  const z4 = g.op("Unsqueeze", [zLast, g.constant("int64", [2])]); // [B, H, 1, dh]
  return g.op("Squeeze", [g.op("MatMul", [z4, perHead]), g.constant("int64", [2])]);
}
