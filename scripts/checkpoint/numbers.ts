/**
 * The generator's numbers: seeded draws and their encoding as F32, F16 or BF16 bytes.
 *
 * Every value comes from mulberry32 (core/rng.ts) through additions, multiplications and one
 * square root, all exact or correctly rounded in IEEE arithmetic, so a checkpoint's bytes are
 * the same on every machine and Node version. (A Box–Muller normal would need log and cos,
 * whose last bit may differ between math libraries.)
 */
import { mulberry32 } from "../../core/index.ts";
import type { FloatDtype } from "./safetensors.ts";

/** Mean and standard deviation of a tensor's values. */
export interface Init {
  mean: number;
  std: number;
}

const SQRT3 = Math.sqrt(3);

/**
 * A stream of float32 values with the init's mean and std: the sum of four uniforms (Irwin–Hall,
 * close to a normal, tails cut at ±3.46 std), centred and scaled to unit variance.
 */
export function valueStream(seed: number, init: Init): (out: Float32Array, count: number) => void {
  const rng = mulberry32(seed);
  const scale = init.std * SQRT3;
  return (out, count) => {
    for (let i = 0; i < count; i++) {
      const u = rng.next() + rng.next() + rng.next() + rng.next() - 2;
      out[i] = init.mean + scale * u; // the Float32Array store rounds to nearest float32
    }
  };
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** The bfloat16 bits nearest to float32 `x`, ties to even (what torch's .to(bfloat16) does). */
export function bf16Bits(x: number): number {
  F32[0] = x;
  const bits = U32[0]!;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // NaN stays a (quiet) NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The IEEE binary16 bits nearest to float32 `x`, ties to even, subnormals and overflow to ±inf included. */
export function f16Bits(x: number): number {
  F32[0] = x;
  const bits = U32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200);
  const e = exponent - 127 + 15; // the binary16 exponent field, before rounding
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // a binary16 subnormal (unit 2^-24) or zero; below half the smallest subnormal rounds to 0
    if (e < -10) return sign;
    return sign | roundShift(mantissa | 0x800000, 14 - e); // a carry into 0x400 is the smallest normal, correctly
  }
  // a carry out of the mantissa bumps the exponent, and past the largest finite gives inf: both correct
  return sign | roundShift((e << 23) | mantissa, 13);
}

/** value >> shift, rounded to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * `count` float32 values as little-endian bytes of `dtype`, written into `out` (4-byte aligned,
 * large enough) and returned as a view of it.
 */
export function encodeValues(values: Float32Array, count: number, dtype: FloatDtype, out: Uint8Array): Uint8Array {
  const width = dtype === "F32" ? 4 : 2;
  if (!HOST_LE) {
    // typed arrays follow the host's byte order; spell the bytes out instead
    const view = new DataView(out.buffer, out.byteOffset, count * width);
    for (let i = 0; i < count; i++) {
      if (dtype === "F32") view.setFloat32(i * 4, values[i]!, true);
      else view.setUint16(i * 2, dtype === "BF16" ? bf16Bits(values[i]!) : f16Bits(values[i]!), true);
    }
    return out.subarray(0, count * width);
  }
  if (dtype === "F32") {
    new Float32Array(out.buffer, out.byteOffset, count).set(values.subarray(0, count));
  } else {
    const halves = new Uint16Array(out.buffer, out.byteOffset, count);
    const convert = dtype === "BF16" ? bf16Bits : f16Bits;
    for (let i = 0; i < count; i++) halves[i] = convert(values[i]!);
  }
  return out.subarray(0, count * width);
}
