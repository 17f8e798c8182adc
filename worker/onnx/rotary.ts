/**
 * Rotary position embeddings: the inverse frequencies, computed in float32 step by step as
 * transformers computes them (modeling_rope_utils.py: default, linear, llama3; GPT-J's
 * create_sinusoidal_positions is the default formula with base 10000), and the graph pieces that
 * rotate q and k in either layout.
 *
 * Layouts, for a head's first `dims` dims (the rest pass through unrotated, partial rotary):
 * - rotate-half (Llama, Qwen, Mistral, GPT-NeoX): dim i pairs with i + dims/2;
 *   out = x cos + rotate_half(x) sin, rotate_half(x) = [-x2, x1];
 * - interleaved (GPT-J's rotate_every_two): dim 2i pairs with 2i + 1;
 *   out[2i] = x[2i] cos_i - x[2i+1] sin_i, out[2i+1] = x[2i+1] cos_i + x[2i] sin_i.
 * Angle i at position p is p * inv_freq[i] in float32, as both compute it.
 */
import type { Rotary } from "../model/config.ts";
import { int, type GraphBuilder } from "./graph.ts";
import type { Sequence } from "./pieces.ts";

const f32 = Math.fround;

/**
 * inv_freq[i] for i < dims/2. Each float32 operation of the Python is one rounding here:
 * torch.arange(0, dims, 2).float() / dims, then base ** that (float32 pow), then 1.0 / that
 * (float32 reciprocal); scalars of an operation with a float32 tensor are float32 too.
 */
export function ropeInvFreq(r: Rotary): Float32Array {
  const half = r.dims / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f32(1 / f32(Math.pow(f32(r.theta), f32((2 * i) / r.dims))));
  const s = r.scaling;
  if (s === null) return inv;
  const factor = f32(s.factor);
  if (s.type === "linear") return inv.map((v) => f32(v / factor));
  // llama3: wavelengths beyond the original context's low-frequency bound are divided by
  // factor, those under the high-frequency bound kept, and those between smoothly interpolated.
  const lowWavelen = f32(s.originalMaxPositions / s.lowFreqFactor);
  const highWavelen = f32(s.originalMaxPositions / s.highFreqFactor);
  const twoPi = f32(2 * Math.PI);
  const old = f32(s.originalMaxPositions);
  const low = f32(s.lowFreqFactor);
  const span = f32(s.highFreqFactor - s.lowFreqFactor);
  return inv.map((v) => {
    // `scalar / tensor` is tensor.reciprocal() * scalar in torch
    const wavelen = f32(f32(1 / v) * twoPi);
    const scaled = wavelen > lowWavelen ? f32(v / factor) : v;
    const smooth = f32(f32(f32(f32(1 / wavelen) * old) - low) / span);
    const smoothed = f32(f32(f32(f32(1 - smooth) * scaled) / factor) + f32(smooth * scaled));
    const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    return medium ? smoothed : scaled;
  });
}

/** cos and sin of every position's angles: [T, dims/2] each, shared by every layer of a graph. */
export interface RopeTables {
  cos: string;
  sin: string;
}

export function ropeTables(g: GraphBuilder, seq: Sequence, r: Rotary): RopeTables {
  const half = r.dims / 2;
  const positions = g.op("Unsqueeze", [g.op("Cast", [seq.range], { to: int(1) }), g.constant("int64", [1])]); // [T, 1]
  const angles = g.op(
    "Mul",
    [positions, g.constant("float32", Array.from(ropeInvFreq(r)), [1, half])],
    {},
    "rope_angles",
  ); // [T, dims/2]
  return { cos: g.op("Cos", [angles]), sin: g.op("Sin", [angles]) };
}

/** Rotates the first r.dims dims of every head: x [B, T, heads, dHead] -> the same shape. */
export function applyRotary(g: GraphBuilder, x: string, t: RopeTables, r: Rotary, dHead: number): string {
  if (r.dims === 0) return x;
  const half = r.dims / 2;
  const [rot, pass] =
    r.dims === dHead
      ? [x, null]
      : g.opN("Split", [x, g.constant("int64", [r.dims, dHead - r.dims])], 2, { axis: int(-1) }, "rope_part");
  let rotated: string;
  if (r.layout === "rotate-half") {
    const c = g.op("Unsqueeze", [t.cos, g.constant("int64", [1])]); // [T, 1, half]
    const s = g.op("Unsqueeze", [t.sin, g.constant("int64", [1])]);
    const [x1, x2] = g.opN("Split", [rot, g.constant("int64", [half, half])], 2, { axis: int(-1) }, "rope_half");
    const o1 = g.op("Sub", [g.op("Mul", [x1!, c]), g.op("Mul", [x2!, s])]);
    const o2 = g.op("Add", [g.op("Mul", [x2!, c]), g.op("Mul", [x1!, s])]);
    rotated = g.op("Concat", [o1, o2], { axis: int(-1) });
  } else {
    const c = g.op("Reshape", [t.cos, g.constant("int64", [0, 1, half, 1])]); // [T, 1, half, 1]
    const s = g.op("Reshape", [t.sin, g.constant("int64", [0, 1, half, 1])]);
    const pairs = g.op("Reshape", [rot, g.constant("int64", [0, 0, 0, half, 2])]); // [B, T, heads, half, 2]
    const [even, odd] = g.opN("Split", [pairs, g.constant("int64", [1, 1])], 2, { axis: int(-1) }, "rope_pair");
    const oEven = g.op("Sub", [g.op("Mul", [even!, c]), g.op("Mul", [odd!, s])]);
    const oOdd = g.op("Add", [g.op("Mul", [odd!, c]), g.op("Mul", [even!, s])]);
    rotated = g.op("Reshape", [
      g.op("Concat", [oEven, oOdd], { axis: int(-1) }),
      g.constant("int64", [0, 0, 0, r.dims]),
    ]);
  }
  return pass === null ? rotated : g.op("Concat", [rotated, pass], { axis: int(-1) });
}
