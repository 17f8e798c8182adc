/**
 * Vocabulary classes (worker/onnx/vocab-classes.ts): tokens with bit-identical unembedding rows
 * are scored once, weighted by how many there are. On the zoo's Llama model (26 trained rows of
 * 32,000; every other row exactly zero) the kernel sums over 27 classes, and its importances and
 * log-probabilities must equal float64 computed here over the full vocabulary from the
 * definition, which knows nothing of classes, within 1e-5. (The float32 naive projection is no
 * oracle at this size: its logsumexp over 32,000 tokens is off by up to 5e-4 here.)
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildCases, operandPairs } from "../../core/index.ts";
import { loadCheckpoint, ModelRunner, NeuronScorer, vocabClasses } from "../../worker/index.ts";
import { ZOO_DIR } from "../helpers/golden.ts";

describe("vocabClasses", () => {
  it("groups bit-identical rows in order of first appearance, with their sizes", () => {
    const rows = [
      [1, 2],
      [0, 0],
      [1, 2],
      [0, 0],
      [0, 0],
      [3, 4],
      [0, -0],
    ];
    const got = vocabClasses({ data: Float32Array.from(rows.flat()), shape: [rows.length, 2] })!;
    expect(Array.from(got.classOf)).toEqual([0, 1, 0, 1, 1, 2, 3]); // -0 is another bit pattern: its own class
    expect(Array.from(got.unembed.data)).toEqual([1, 2, 0, 0, 3, 4, 0, -0]);
    expect(got.unembed.shape).toEqual([4, 2]);
    expect(Array.from(got.logCount)).toEqual([2, 3, 1, 1].map((n) => Math.fround(Math.log(n))));
  });

  it("gives null when at least half the rows are distinct (no second copy is made)", () => {
    expect(vocabClasses({ data: Float32Array.from([1, 2, 3, 4, 1, 2, 5, 6]), shape: [4, 2] })).toBeNull();
    expect(vocabClasses({ data: Float32Array.from([1, 1, 1, 1, 1, 2]), shape: [3, 2] })).not.toBeNull();
  });
});

describe("importance over vocabulary classes", () => {
  it("equals float64 over all 32,000 tokens on the zoo's Llama model", async () => {
    const ck = await loadCheckpoint(join(ZOO_DIR, "arith-llama-3l-d96"));
    await using runner = new ModelRunner("llama", ck.config, ck.weights, { intraOpThreads: 2 });
    const { weights, classOf } = runner.scoringUnembed();
    expect(weights.unembed.shape[0]).toBeLessThan(100);
    expect(classOf).not.toBeNull();

    const { nLayer: L, dModel: D, dMlp: F } = ck.config;
    const cases = buildCases(operandPairs("-", 1), 4, ck.tokenizer).filter((_, i) => i % 9 === 0);
    const out = await runner.forward({
      sequences: cases.map((c) => c.prefixIds),
      outputs: ["resid_mid", "mlp_post", "final_scale"],
    });
    const inputs = {
      batch: cases.length,
      residMid: out.outputs.resid_mid!,
      mlpPost: out.outputs.mlp_post!,
      scale: out.outputs.final_scale!,
      target: cases.map((c) => c.target),
    };
    const classes = await new NeuronScorer(runner).score(inputs);
    expect(classes.length).toBe(cases.length * L * F);
    const W = ck.weights.unembed.data;
    const g = ck.weights.finalNorm.weight.data;
    const V = ck.config.vocabSize;
    /** log_softmax(W_U (g * u / s))[w] in float64 over every token. */
    const logProb = (u: ArrayLike<number>, s: number, w: number): number => {
      const logits = new Float64Array(V);
      for (let v = 0; v < V; v++) for (let d = 0; d < D; d++) logits[v]! += (W[v * D + d]! * g[d]! * u[d]!) / s;
      let max = -Infinity;
      for (const z of logits) max = Math.max(max, z);
      let sum = 0;
      for (const z of logits) sum += Math.exp(z - max);
      return logits[w]! - max - Math.log(sum);
    };
    // the 20 largest importances and 20 spread over the rest
    const order = Array.from(classes.keys()).sort((a, b) => Math.abs(classes[b]!) - Math.abs(classes[a]!));
    const checked = [
      ...order.slice(0, 20),
      ...Array.from({ length: 20 }, (_, i) => order[20 + Math.floor((i * (order.length - 20)) / 20)]!),
    ];
    expect(Math.abs(classes[order[0]!]!)).toBeGreaterThan(0.1); // not a comparison of zeros
    for (const i of checked) {
      const b = Math.floor(i / (L * F));
      const l = Math.floor((i % (L * F)) / F);
      const k = i % F;
      const s = inputs.scale[b]!;
      const r = inputs.residMid.subarray((b * L + l) * D, (b * L + l + 1) * D);
      const m = inputs.mlpPost[i]!;
      const wOut = ck.weights.layers[l]!.mlpOut.weight.data; // [D, F]
      const u = Float64Array.from({ length: D }, (_, d) => r[d]! + m * wOut[d * F + k]!);
      const want = logProb(u, s, inputs.target[b]!) - logProb(r, s, inputs.target[b]!);
      expect(Math.abs(classes[i]! - want), `case ${b} neuron ${l}_${k}`).toBeLessThanOrEqual(1e-5);
    }

    // log p(w | u) for vectors (layer and head scores): classes against the full softmax in float64
    const scorer = new NeuronScorer(runner);
    const vecs = out.outputs.resid_mid!.subarray(0, cases.length * D);
    const scale = Float32Array.from(cases, (_, b) => out.outputs.final_scale![b]!);
    const lp = await scorer.logProb(
      Float32Array.from(vecs),
      scale,
      cases.map((c) => c.target),
    );
    cases.forEach((c, b) => {
      expect(
        Math.abs(lp[b]! - logProb(vecs.subarray(b * D, (b + 1) * D), scale[b]!, c.target)),
        `case ${c.id}`,
      ).toBeLessThanOrEqual(1e-5);
    });
  });
});
