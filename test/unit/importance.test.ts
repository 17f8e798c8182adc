/**
 * NeuronScorer (worker/analyses/importance.ts) against a float64 reference computed here from
 * docs/method.md §3 — Imp = log_softmax(logits(r + m W_out[k]))[w] - log_softmax(logits(r))[w],
 * logits(u) = W_U (g * (u - mean u) / s) — on a tiny random model with hand-made activations:
 * t = (m / s) h_k chosen across every degree of the moment path, beyond it (log space), and so
 * large that exp(c U) overflows float32, where the unguarded softmax-weighted form
 * lse(z) + log Σ_v softmax(z)_v exp(c U_v) gives Inf or NaN.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mulberry32 } from "../../core/index.ts";
import { attribution, ModelRunner, NeuronScorer, parseModelConfig } from "../../worker/index.ts";
import type { LayerScores, ModelConfig, ModelWeights } from "../../worker/index.ts";
import { resolveImportanceOptions } from "../../worker/analyses/index.ts";
import type { ImportanceInputs, ImportanceOptions } from "../../worker/analyses/index.ts";
import { SERIES_LIMITS, SERIES_MAX_T } from "../../worker/analyses/lse-series.ts";

const B = 4;
const CONFIG: ModelConfig = parseModelConfig(
  {
    model_type: "gpt2",
    n_layer: 2,
    n_head: 2,
    n_embd: 16,
    n_inner: 24,
    n_positions: 8,
    vocab_size: 40,
    layer_norm_epsilon: 1e-5,
  },
  "(test model)",
);
const { nLayer: L, dModel: D, dMlp: F, vocabSize: V } = CONFIG;
/** float32 exp overflows past log(FLT_MAX). */
const LOG_FLT_MAX = Math.log(3.4028234663852886e38);

function randomWeights(seed: number): ModelWeights {
  const rng = mulberry32(seed);
  const t = (...shape: number[]) => ({
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() - 0.5),
    shape,
  });
  const affine = (i: number, o: number) => ({ weight: t(i, o), bias: t(o) });
  const norm = () => ({
    weight: { data: Float32Array.from({ length: D }, () => 0.5 + rng.next()), shape: [D] },
    bias: t(D),
  });
  const wte = t(V, D);
  return {
    layout: "in-out",
    embed: wte,
    positions: t(CONFIG.nPositions, D),
    unembed: wte,
    layers: Array.from({ length: L }, () => ({
      attnNorm: norm(),
      qkv: { fused: affine(D, 3 * D), order: "blocks" as const },
      out: affine(D, D),
      mlpNorm: norm(),
      mlpIn: affine(D, F),
      mlpOut: affine(F, D),
    })),
    finalNorm: norm(),
  };
}

/** log_softmax(W_U (g * c(u) / s))[w] in float64. */
function logProb64(w: ModelWeights, u: ArrayLike<number>, s: number, target: number): number {
  const mean = Array.from(u).reduce((a, b) => a + b, 0) / D;
  const logits = new Float64Array(V);
  for (let v = 0; v < V; v++)
    for (let d = 0; d < D; d++)
      logits[v]! += (w.embed.data[v * D + d]! * w.finalNorm.weight.data[d]! * (u[d]! - mean)) / s;
  const max = Math.max(...logits);
  return logits[target]! - max - Math.log(logits.reduce((a, z) => a + Math.exp(z - max), 0));
}

/** U[k, :] = W_U (g * c(W_out[k])) in float64, and its half-range h_k. */
function uRow(w: ModelWeights, layer: number, k: number): { u: Float64Array; h: number } {
  const row = w.layers[layer]!.mlpOut.weight.data.subarray(k * D, (k + 1) * D);
  const mean = row.reduce((a, b) => a + b, 0) / D;
  const u = new Float64Array(V);
  for (let v = 0; v < V; v++)
    for (let d = 0; d < D; d++) u[v]! += w.embed.data[v * D + d]! * w.finalNorm.weight.data[d]! * (row[d]! - mean);
  return { u, h: (Math.max(...u) - Math.min(...u)) / 2 };
}

function reference(w: ModelWeights, inp: ImportanceInputs): Float64Array {
  const out = new Float64Array(B * L * F);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      const r = inp.residMid.subarray((b * L + l) * D, (b * L + l + 1) * D);
      const base = logProb64(w, r, inp.scale[b]!, inp.target[b]!);
      for (let k = 0; k < F; k++) {
        const m = inp.mlpPost[(b * L + l) * F + k]!;
        const u = Array.from(r, (x, d) => x + m * w.layers[l]!.mlpOut.weight.data[k * D + d]!);
        out[(b * L + l) * F + k] = logProb64(w, u, inp.scale[b]!, inp.target[b]!) - base;
      }
    }
  }
  return out;
}

/** Activations whose t = (m / s) h_k take the given values (cycled over case, layer and neuron). */
function inputsWithT(w: ModelWeights, ts: readonly number[], seed: number): ImportanceInputs {
  const rng = mulberry32(seed);
  const scale = Float32Array.from({ length: B }, () => 0.5 + 1.5 * rng.next());
  const mlpPost = new Float32Array(B * L * F);
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      for (let k = 0; k < F; k++)
        mlpPost[(b * L + l) * F + k] = (ts[(b * L * F + l * F + k) % ts.length]! * scale[b]!) / uRow(w, l, k).h;
    }
  }
  return {
    batch: B,
    residMid: Float32Array.from({ length: B * L * D }, () => 4 * (rng.next() - 0.5)),
    mlpPost,
    scale,
    target: Array.from({ length: B }, () => Math.floor(rng.next() * V)),
  };
}

/**
 * Largest |got - want| / (1 + |want| + |t|): float32 holds ~7 digits of the score and of the
 * logits it comes from, which move by about |t| nats (t = ts[i], cycled as inputsWithT lays them out).
 */
function maxError(got: Float32Array, want: Float64Array, ts: readonly number[]): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++)
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!) + Math.abs(ts[i % ts.length]!)));
  return worst;
}

const TOL = 1e-6;

describe("NeuronScorer against a float64 reference", () => {
  const weights = randomWeights(5);
  let runner: ModelRunner;
  beforeAll(() => {
    runner = new ModelRunner("tiny", CONFIG, weights, { intraOpThreads: 1 });
  });
  afterAll(async () => runner?.close());
  const score = (o: ImportanceOptions, inp: ImportanceInputs) => new NeuronScorer(runner, o).score(inp);

  // t at the top of each degree's range, on the negative side, and a seventh of it; then past the moment range.
  const moderate = SERIES_LIMITS.slice(1)
    .flatMap((x) => [0.999 * x, -0.99 * x, x / 7])
    .concat([0, 1.5, -3, 8]);

  it("scores every degree of the moment path, and the log-space pairs, within 1e-6 of the reference", async () => {
    const inp = inputsWithT(weights, moderate, 1);
    const want = reference(weights, inp);
    const scorer = new NeuronScorer(runner);
    expect(maxError(await scorer.score(inp), want, moderate)).toBeLessThan(TOL);
    const counts = scorer.kernelCounts();
    const beyond = inp.mlpPost.filter((_, i) => Math.abs(moderate[i % moderate.length]!) > SERIES_MAX_T).length;
    expect(counts.logSpace).toBe(beyond);
    expect(counts.moments).toBe(B * L * F - beyond);
  });

  it("gives the same numbers with the log-space kernel, the naive projection and chunked U", async () => {
    const inp = inputsWithT(weights, moderate, 2);
    const want = reference(weights, inp);
    expect(maxError(await score({ kernel: "log-space" }, inp), want, moderate)).toBeLessThan(TOL);
    expect(maxError(await score({ method: "naive" }, inp), want, moderate)).toBeLessThan(TOL);
    const chunked = new NeuronScorer(runner, { uBudgetBytes: 0, scratchBytes: 7 * V * 16 }); // blocks of a few neurons
    expect(chunked.uMode).toBe("chunked");
    expect(maxError(await chunked.score(inp), want, moderate)).toBeLessThan(TOL);
  });

  it("guards against overflow: |c U| far past float32's exp range is scored exactly", async () => {
    const huge = [150, -150, 400, -1000, 90, 0.01];
    const inp = inputsWithT(weights, huge, 3);
    // The unguarded form would overflow: c U_v > log(FLT_MAX) for some v in every |t| ≥ 150 pair.
    for (let i = 0; i < B * L * F; i++) {
      if (Math.abs(huge[i % huge.length]!) < 150) continue;
      const b = Math.floor(i / (L * F));
      const { u } = uRow(weights, Math.floor(i / F) % L, i % F);
      const c = inp.mlpPost[i]! / inp.scale[b]!;
      expect(Math.max(...u.map((x) => c * x))).toBeGreaterThan(LOG_FLT_MAX);
      expect(Math.fround(Math.exp(Math.max(...u.map((x) => c * x))))).toBe(Infinity);
    }
    const want = reference(weights, inp);
    for (const o of [{}, { kernel: "log-space" as const }, { uBudgetBytes: 0 }, { method: "naive" as const }]) {
      const got = await score(o, inp);
      expect(got.every(Number.isFinite)).toBe(true);
      expect(maxError(got, want, huge), JSON.stringify(o)).toBeLessThan(TOL);
    }
  });

  it("attribution scores the same whether neuron scoring waits for many forward batches or none", async () => {
    const rng = mulberry32(9);
    const cases = Array.from({ length: 7 }, (_, id) => ({
      id,
      prefixIds: Array.from({ length: 1 + (id % 4) }, () => Math.floor(rng.next() * V)),
      target: id % V,
    }));
    const run = async (scoreBatchCases: number) => {
      const seen: LayerScores[] = [];
      const partial = await attribution(runner, cases, { maxBatchCases: 2, scoreBatchCases }, (s) => seen.push(s));
      return { partial, seen };
    };
    const one = await run(1);
    const all = await run(100);
    expect(all.seen.map((s) => s.caseId)).toEqual(cases.map((c) => c.id));
    // A batch's largest |t| may pick a higher degree for a neuron: equal within float32 rounding.
    const close = (a: ArrayLike<number>, b: ArrayLike<number>) =>
      Array.from(a).every((x, i) => Math.abs(x - b[i]!) <= 1e-6 * (1 + Math.abs(x)));
    all.seen.forEach((s, i) => expect(close(s.neurons, one.seen[i]!.neurons)).toBe(true));
    expect(close(all.partial.impSum, one.partial.impSum)).toBe(true);
    expect({ ...all.partial, impSum: [], topKCount: [] }).toEqual({ ...one.partial, impSum: [], topKCount: [] });
    await expect(attribution(runner, cases, { scoreBatchCases: 0 })).rejects.toThrow(/scoreBatchCases/);
  });

  it("rejects bad options, naming the field", () => {
    expect(() => resolveImportanceOptions({ uBudgetBytes: -1 })).toThrow(/uBudgetBytes/);
    expect(() => resolveImportanceOptions({ scratchBytes: 0 })).toThrow(/scratchBytes/);
    expect(() => resolveImportanceOptions({ kernel: "exp" as never })).toThrow(/kernel/);
    expect(resolveImportanceOptions({}).kernel).toBe("moments");
  });
});
