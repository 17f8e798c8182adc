/**
 * Little-endian float16 / bfloat16 / float32 bytes → Float32Array.
 *
 * The engine computes in float32 whatever the checkpoint stores, so half-precision weights are
 * widened once at load. Both conversions are exact (every F16 and BF16 value is a float32).
 */

/** True on little-endian hosts, where typed-array views read safetensors bytes directly. */
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** float32 data; a zero-copy view into `bytes` when aligned, else a copy. */
export function float32FromF32(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const at = bytes.byteOffset + offset;
  if (HOST_LE && at % 4 === 0) return new Float32Array(bytes.buffer, at, count);
  const view = new DataView(bytes.buffer, at, count * 4);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** bfloat16 is the top half of a float32: widen by shifting the bits left 16. */
export function float32FromBf16(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const halves = readU16(bytes, offset, count);
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) bits[i] = halves[i]! << 16;
  return out;
}

/** IEEE binary16 through a 65,536-entry table, built on first use (256 KiB). */
export function float32FromF16(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const halves = readU16(bytes, offset, count);
  const table = f16Table();
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = table[halves[i]!]!;
  return out;
}

let F16_TABLE: Float32Array | undefined;

function f16Table(): Float32Array {
  if (F16_TABLE !== undefined) return F16_TABLE;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = decodeF16(h);
  F16_TABLE = table;
  return table;
}

/** One binary16 value: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. */
export function decodeF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function readU16(bytes: Uint8Array, offset: number, count: number): Uint16Array {
  const at = bytes.byteOffset + offset;
  if (HOST_LE && at % 2 === 0) return new Uint16Array(bytes.buffer, at, count);
  const view = new DataView(bytes.buffer, at, count * 2);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, true);
  return out;
}
