/**
 * A GPT-2-small-shaped model with random weights, built in memory at bench time (never written
 * to disk), and random cases for it. Deterministic: the same seed gives the same bytes.
 *
 * Weights are N(0, 0.02)-ish (mulberry32 through a normal quantile table), LayerNorm gains 1, biases 0 — the
 * numbers are meaningless, but every tensor has GPT-2 small's shape, so the engine does exactly
 * the work it would do on the real checkpoint.
 */
import { mulberry32 } from "../core/index.ts";
import type { AnalysisCase } from "../worker/analyses/index.ts";
import { parseModelConfig } from "../worker/index.ts";
import type { ModelConfig, ModelWeights, Norm, Linear, Tensor } from "../worker/index.ts";

/** GPT-2 small's config.json, read as any checkpoint's is. */
export const GPT2_SMALL: ModelConfig = parseModelConfig(
  {
    model_type: "gpt2",
    n_layer: 12,
    n_head: 12,
    n_embd: 768,
    n_positions: 1024,
    vocab_size: 50257,
    layer_norm_epsilon: 1e-5,
    activation_function: "gelu_new",
  },
  "(GPT-2 small)",
);

const INIT_STD = 0.02;

/**
 * Standard-normal draws by inverse-CDF lookup: each 32-bit mulberry32 output gives two draws,
 * one per 16-bit half, read from a 65,536-entry quantile table. Coarser than Box–Muller but an
 * order of magnitude faster for GPT-2 small's 124 M weights, and the bench only needs the shape
 * and scale of the values.
 */
function gaussian(seed: number): () => number {
  const table = new Float32Array(65536);
  for (let i = 0; i < table.length; i++) table[i] = normalQuantile((i + 0.5) / table.length);
  const rng = mulberry32(seed);
  let spare = -1;
  return () => {
    if (spare >= 0) {
      const s = spare;
      spare = -1;
      return table[s]!;
    }
    const bits = Math.floor(rng.next() * 4294967296);
    spare = bits >>> 16;
    return table[bits & 0xffff]!;
  };
}

/** Φ^-1(p) for 0 < p < 1 (Acklam's rational approximation, relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
    2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const poly = (k: number[], x: number) => k.reduce((acc, v) => acc * x + v, 0);
  const low = 0.02425;
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p));
    const x = poly(c, q) / (poly(d, q) * q + 1);
    return p < low ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

/** Random weights for `config` (any gpt2 shape; GPT-2 small by default). */
export function syntheticGpt2Weights(config: ModelConfig = GPT2_SMALL, seed = 2024): ModelWeights {
  const normal = gaussian(seed);
  const { dModel: D, dMlp: F, vocabSize: V, nPositions: P } = config;
  const random = (...shape: number[]): Tensor => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = normal() * INIT_STD;
    return { data, shape };
  };
  const filled = (value: number, n: number): Tensor => ({ data: new Float32Array(n).fill(value), shape: [n] });
  const norm = (): Norm => ({ weight: filled(1, D), bias: filled(0, D) });
  const linear = (nIn: number, nOut: number): Linear => ({ weight: random(nIn, nOut), bias: filled(0, nOut) });
  const embed = random(V, D);
  return {
    layout: "in-out",
    embed,
    positions: random(P, D),
    layers: Array.from({ length: config.nLayer }, () => ({
      attnNorm: norm(),
      qkv: { fused: linear(D, 3 * D), order: "blocks" as const },
      out: linear(D, D),
      mlpNorm: norm(),
      mlpIn: linear(D, F),
      mlpOut: linear(F, D),
    })),
    finalNorm: norm(),
    unembed: embed,
  };
}

/** `count` random token sequences of `length` tokens, each with a random target token. */
export function syntheticCases(count: number, length: number, vocabSize: number, seed = 7): AnalysisCase[] {
  const rng = mulberry32(seed);
  return Array.from({ length: count }, (_, id) => ({
    id,
    prefixIds: Array.from({ length }, () => rng.randomInt(vocabSize)),
    target: rng.randomInt(vocabSize),
  }));
}
