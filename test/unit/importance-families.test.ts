/**
 * Neuron importance, CNA and top tokens (docs/method.md §3 and §4) on families other than
 * GPT-2, against float64 computed here from the definitions: logits(u) = W_U (g * c(u) / s) with
 * c(u) = u for RMSNorm (Llama) and u - mean(u) for LayerNorm (GPT-J), the final norm's bias and
 * GPT-J's lm_head.bias dropped, W_out[k] the k-th column of an [out, in] down projection.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeRandomCheckpoint } from "../../scripts/random-checkpoint.ts";
import type { RandomCheckpointOptions } from "../../scripts/random-checkpoint.ts";
import { attribution, cna, loadCheckpoint, ModelRunner, neuronTopTokens } from "../../worker/index.ts";
import type { CnaCaseScores, LayerScores, ModelWeights } from "../../worker/index.ts";

const root = mkdtempSync(join(tmpdir(), "cna-imp-families-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CASES = [
  { id: 0, prefixIds: [5, 12, 7, 16], target: 9 },
  { id: 1, prefixIds: [3, 4, 12, 9, 16], target: 4 },
  { id: 2, prefixIds: [8, 13, 2, 16], target: 17 },
];

/** log_softmax(W_U (g * c(u) / s))[w] in float64, without any bias. */
function logProb(w: ModelWeights, centre: boolean, u: ArrayLike<number>, s: number, target: number): number {
  const D = u.length,
    V = w.unembed.shape[0]!;
  const mean = centre ? Array.from(u).reduce((a, b) => a + b, 0) / D : 0;
  const logits = new Float64Array(V);
  for (let v = 0; v < V; v++)
    for (let d = 0; d < D; d++)
      logits[v]! += (w.unembed.data[v * D + d]! * w.finalNorm.weight.data[d]! * (u[d]! - mean)) / s;
  const max = Math.max(...logits);
  return logits[target]! - max - Math.log(logits.reduce((a, z) => a + Math.exp(z - max), 0));
}

/** Neuron k's output direction: a column of the [D, F] down projection. */
const direction = (w: ModelWeights, l: number, k: number, D: number, F: number) =>
  Float64Array.from({ length: D }, (_, d) => w.layers[l]!.mlpOut.weight.data[d * F + k]!);

describe.each<[string, RandomCheckpointOptions, boolean]>([
  ["llama (RMSNorm: c(u) = u)", { family: "llama", heads: 4, kvHeads: 2 }, false],
  ["gptj (LayerNorm, lm_head.bias dropped)", { family: "gptj", rotaryDim: 4 }, true],
])("%s", (label, options, centre) => {
  const dir = join(root, label.split(" ")[0]!);
  writeRandomCheckpoint(dir, { seed: 11, ...options });

  it("scores every neuron, and CNA with a head ablated, as the definitions do", async () => {
    const ck = await loadCheckpoint(dir);
    const { nLayer: L, dModel: D, dMlp: F } = ck.config;
    const w = ck.weights;
    expect(w.layout).toBe("out-in");
    await using runner = new ModelRunner(label, ck.config, w, { intraOpThreads: 1 });
    const orig = (
      await runner.forward({
        sequences: CASES.map((c) => c.prefixIds),
        outputs: ["logits", "resid_mid", "mlp_post", "final_scale"],
      })
    ).outputs;
    const head = { layer: 0, head: 1 };
    const mask = new Float32Array(CASES.length * L * ck.config.nHead).fill(1);
    CASES.forEach((_, b) => (mask[b * L * ck.config.nHead + head.layer * ck.config.nHead + head.head] = 0));
    const abl = (
      await runner.forward({
        sequences: CASES.map((c) => c.prefixIds),
        outputs: ["resid_mid", "mlp_post"],
        headMask: mask,
      })
    ).outputs;
    const V = ck.config.vocabSize;
    const predicted = CASES.map((_, b) => {
      const row = orig.logits!.subarray(b * V, (b + 1) * V);
      return row.indexOf(Math.max(...row));
    });
    const imp = (resid: Float32Array, post: Float32Array, b: number, l: number, k: number) => {
      const s = orig.final_scale![b]!;
      const r = resid.subarray((b * L + l) * D, (b * L + l + 1) * D);
      const m = post[(b * L + l) * F + k]!;
      const dirK = direction(w, l, k, D, F);
      return (
        logProb(
          w,
          centre,
          Array.from(r, (x, d) => x + m * dirK[d]!),
          s,
          predicted[b]!,
        ) - logProb(w, centre, r, s, predicted[b]!)
      );
    };

    const scores: LayerScores[] = [];
    await attribution(runner, CASES, { topK: 5 }, (s) => scores.push({ ...s, neurons: Float32Array.from(s.neurons) }));
    const cnaScores: CnaCaseScores[] = [];
    await cna(runner, CASES, { head, topK: 5 }, (s) =>
      cnaScores.push({ ...s, cna: Float32Array.from(s.cna), impAblated: Float32Array.from(s.impAblated) }),
    );
    let checked = 0;
    for (let b = 0; b < CASES.length; b++) {
      for (let l = 0; l < L; l++) {
        for (let k = 0; k < F; k += 7) {
          const want = imp(orig.resid_mid!, orig.mlp_post!, b, l, k);
          const ablated = imp(abl.resid_mid!, abl.mlp_post!, b, l, k);
          expect(Math.abs(scores[b]!.neurons[l * F + k]! - want), `Imp(${l}, ${k}) case ${b}`).toBeLessThan(
            1e-4 * Math.max(1, Math.abs(want)),
          );
          expect(Math.abs(cnaScores[b]!.impAblated[l * F + k]! - ablated), `Imp_ablated(${l}, ${k})`).toBeLessThan(
            1e-4 * Math.max(1, Math.abs(ablated)),
          );
          expect(Math.abs(cnaScores[b]!.cna[l * F + k]! - (want - ablated)), `CNA(${l}, ${k})`).toBeLessThan(
            2e-4 * Math.max(1, Math.abs(want - ablated)),
          );
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(30);
  });

  it("lists a neuron's top tokens from W_U (g * c(W_out[k])), unbiased", async () => {
    const ck = await loadCheckpoint(dir);
    const { dModel: D, dMlp: F, vocabSize: V } = ck.config;
    await using runner = new ModelRunner(label, ck.config, ck.weights, { intraOpThreads: 1 });
    const neurons = [
      { layer: 0, neuron: 3, sign: 1 as const },
      { layer: 1, neuron: F - 1, sign: 1 as const },
    ];
    const tokens = await neuronTopTokens(
      runner,
      { tokenText: (id) => String(id), decode: (ids) => ids.join(",") },
      neurons,
      5,
    );
    neurons.forEach((n, i) => {
      const dirK = direction(ck.weights, n.layer, n.neuron, D, F);
      const mean = centre ? dirK.reduce((a, b) => a + b, 0) / D : 0;
      const u = Array.from({ length: V }, (_, v) =>
        dirK.reduce(
          (a, x, d) => a + ck.weights.unembed.data[v * D + d]! * ck.weights.finalNorm.weight.data[d]! * (x - mean),
          0,
        ),
      );
      const top = u
        .map((x, v) => [x, v] as const)
        .sort((p, q) => q[0] - p[0] || p[1] - q[1])
        .slice(0, 5)
        .map(([, v]) => String(v));
      expect(tokens[i]).toEqual(top);
    });
  });
});
