/**
 * Seeded randomness that another language can replicate bit for bit.
 *
 * Sampled pairs and random-control neurons must be identical whatever the worker, process or
 * language (the Python golden oracle re-derives them), so everything here is specified exactly
 * on unsigned 32-bit integers and IEEE doubles. All arithmetic below is modulo 2^32.
 *
 * mulberry32 (state: uint32 s, initialised to the seed), one draw:
 *   s = (s + 0x6D2B79F5) mod 2^32
 *   t = s
 *   t = imul(t ^ (t >>> 15), t | 1)
 *   t = t ^ ((t + imul(t ^ (t >>> 7), t | 61)) mod 2^32)
 *   u = (t ^ (t >>> 14)) as uint32
 *   next() = u / 2^32                        (a double in [0, 1), exact)
 * imul(x, y) is the low 32 bits of the integer product x*y.
 *
 * randomInt(n) = floor(next() * n) for an integer 1 <= n <= 2^32 (the product is exact).
 *
 * deriveSeed(seed, ...parts) = FNV-1a 32-bit of the UTF-8 bytes of
 *   [seed, ...parts].join("|")   (integers written in plain decimal: 7, -3, 4294967295)
 * FNV-1a: h = 0x811C9DC5; for each byte b: h = ((h ^ b) * 0x01000193) mod 2^32.
 *
 * sampleWithoutReplacement(n, k, rng): partial Fisher–Yates over the array [0, 1, ..., n-1]:
 *   for i in 0..k-1: j = i + randomInt(n - i); swap(arr[i], arr[j])
 * then return arr[0..k-1] sorted ascending. (Only the swapped slots are stored, so n may be
 * large; the result is the same as with the full array.)
 */
import { SpecError } from "./errors.ts";

/** A stream of uniform doubles in [0, 1) and integers in [0, n). */
export interface Rng {
  next(): number;
  randomInt(n: number): number;
}

const TWO_POW_32 = 4294967296;

/** mulberry32 seeded with `seed` (an integer, taken modulo 2^32). */
export function mulberry32(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) {
    throw new SpecError("seed", `seed must be an integer (got ${seed})`);
  }
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / TWO_POW_32;
  };
  const randomInt = (n: number): number => {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new SpecError("n", `randomInt(n) needs an integer 1 <= n <= 2^32 (got ${n})`);
    }
    return Math.floor(next() * n);
  };
  return { next, randomInt };
}

/** FNV-1a 32-bit hash of a string's UTF-8 bytes. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * A seed for one purpose, derived from the sweep seed and names: `deriveSeed(seed, "+", 2)`.
 * Different purposes get independent streams, and adding a purpose never shifts another's.
 */
export function deriveSeed(seed: number, ...parts: (string | number)[]): number {
  for (const value of [seed, ...parts]) {
    // Non-integers would be formatted differently by other languages (1e21, 0.1).
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new SpecError("seed", `seed parts must be integers or strings (got ${value})`);
    }
  }
  return fnv1a32([seed, ...parts].join("|"));
}

/** k distinct integers from [0, n), sorted ascending, by a seeded partial Fisher–Yates. */
export function sampleWithoutReplacement(n: number, k: number, rng: Rng): number[] {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new SpecError("n", `population size must be a non-negative integer (got ${n})`);
  }
  if (!Number.isSafeInteger(k) || k < 0 || k > n) {
    throw new SpecError("k", `sample size must be an integer from 0 to ${n} (got ${k})`);
  }
  // Sparse array: a slot not in the map still holds its own index.
  const slots = new Map<number, number>();
  const at = (i: number): number => slots.get(i) ?? i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.randomInt(n - i);
    const vi = at(i);
    slots.set(i, at(j));
    slots.set(j, vi);
  }
  const picked: number[] = [];
  for (let i = 0; i < k; i++) picked.push(at(i));
  return picked.sort((x, y) => x - y);
}
