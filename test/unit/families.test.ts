/**
 * Every family's engine against a float64 forward written from transformers' equations
 * (test/helpers/reference-forward.ts) on tiny random checkpoints from
 * scripts/random-checkpoint.ts: logits at every position, the per-layer activations the analyses
 * read, the final norm scale, a head ablated (a query head under GQA; in parallel blocks it
 * changes the next layers only) and neurons masked, within 1e-4. The packed head sweep must
 * give the same probabilities as ablating each head in the reference.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeRandomCheckpoint } from "../../scripts/random-checkpoint.ts";
import type { RandomCheckpointOptions } from "../../scripts/random-checkpoint.ts";
import { loadCheckpoint, ModelRunner } from "../../worker/index.ts";
import { referenceForward } from "../helpers/reference-forward.ts";

const root = mkdtempSync(join(tmpdir(), "cna-families-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const VARIANTS: Record<string, RandomCheckpointOptions> = {
  "llama (GQA)": { family: "llama", heads: 4, kvHeads: 2 },
  "llama (llama3 rope, biases, tied)": {
    family: "llama",
    heads: 4,
    kvHeads: 1,
    attentionBias: true,
    mlpBias: true,
    tieWordEmbeddings: true,
    ropeTheta: 500,
    ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 },
  },
  "llama (linear rope, BF16, 3 shards)": {
    family: "llama",
    ropeScaling: { type: "linear", factor: 2 },
    dtype: "BF16",
    shards: 3,
  },
  mistral: { family: "mistral", heads: 4, kvHeads: 1, dtype: "F16" },
  "qwen2 (q/k/v biases, tied)": { family: "qwen2", heads: 4, kvHeads: 2, tieWordEmbeddings: true },
  "qwen3 (q/k norm, head_dim 12)": { family: "qwen3", hidden: 32, heads: 4, kvHeads: 2, headDim: 12 },
  "gpt_neox (parallel, rotary_pct 0.25)": { family: "gpt_neox", parallelResidual: true, rotaryPct: 0.25, heads: 2 },
  "gpt_neox (sequential, rotary_pct 0.5, no attention bias)": {
    family: "gpt_neox",
    parallelResidual: false,
    rotaryPct: 0.5,
    attentionBias: false,
  },
  "gptj (rotary_dim 4)": { family: "gptj", rotaryDim: 4 },
  gpt2: { family: "gpt2" },
};

/** |a - b| <= tol * max(1, |b|) element-wise, reporting the first offender. */
function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-4): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)))) {
      throw new Error(`${what}[${i}]: engine ${actual[i]} vs reference ${expected[i]}`);
    }
  }
}

const softmaxAt = (row: ArrayLike<number>, i: number) => {
  const max = Math.max(...Array.from(row));
  const sum = Array.from(row).reduce((a, v) => a + Math.exp(v - max), 0);
  return Math.exp(row[i]! - max) / sum;
};

describe.each(Object.entries(VARIANTS))("%s", (label, options) => {
  const dir = join(root, label.replace(/[^a-z0-9]+/gi, "-"));
  writeRandomCheckpoint(dir, { seed: 7, ...options });
  const ids = [5, 12, 7, 16, 9, 3];

  it("computes what transformers' equations compute: logits at every position, activations, final scale", async () => {
    const ck = await loadCheckpoint(dir);
    await using runner = new ModelRunner(label, ck.config, ck.weights, { intraOpThreads: 1 });
    const { nLayer: L, dModel: D, dMlp: F, vocabSize: V } = ck.config;
    const ref = referenceForward(dir, ids);
    const all = await runner.forward({ sequences: [ids], outputs: ["logits_all"] });
    ids.forEach((_, p) =>
      close(all.outputs.logits_all!.subarray(p * V, (p + 1) * V), ref.logits[p]!, `logits at position ${p}`),
    );
    const out = (
      await runner.forward({
        sequences: [ids],
        outputs: ["logits", "resid_pre", "resid_mid", "mlp_post", "final_scale"],
      })
    ).outputs;
    close(out.logits!, ref.logits[ids.length - 1]!, "logits");
    for (let l = 0; l < L; l++) {
      close(out.resid_pre!.subarray(l * D, (l + 1) * D), ref.residPre[l]!, `resid_pre layer ${l}`);
      close(out.resid_mid!.subarray(l * D, (l + 1) * D), ref.residMid[l]!, `resid_mid layer ${l}`);
      close(out.mlp_post!.subarray(l * F, (l + 1) * F), ref.mlpPost[l]!, `mlp_post layer ${l}`);
    }
    close(out.final_scale!, [ref.finalScale], "final_scale");
  });

  it("ablates a query head and masks neurons as the reference does; the packed sweep agrees head by head", async () => {
    const ck = await loadCheckpoint(dir);
    await using runner = new ModelRunner(label, ck.config, ck.weights, { intraOpThreads: 1 });
    const { nLayer: L, nHead: H, dMlp: F } = ck.config;
    const headMask = new Float32Array(L * H).fill(1);
    headMask[0 * H + 1] = 0; // layer 0, query head 1 (shares its KV head with head 0 under GQA)
    const ablated = referenceForward(dir, ids, { headMask: (l, h) => (l === 0 && h === 1 ? 0 : 1) });
    const a = await runner.forward({ sequences: [ids], outputs: ["logits", "resid_mid"], headMask });
    close(a.outputs.logits!, ablated.logits[ids.length - 1]!, "logits with head 0.1 ablated");
    close(
      a.outputs.resid_mid!.subarray(ck.config.dModel, 2 * ck.config.dModel),
      ablated.residMid[1]!,
      "resid_mid of layer 1 with head 0.1 ablated",
    );

    const neuronMask = new Float32Array(L * F).fill(1).map((_, i) => (i % 5 === 0 ? 0 : 1));
    const masked = referenceForward(dir, ids, { neuronMask: (l, k) => ((l * F + k) % 5 === 0 ? 0 : 1) });
    close(
      (await runner.forward({ sequences: [ids], outputs: ["logits"], neuronMask })).outputs.logits!,
      masked.logits[ids.length - 1]!,
      "logits with neurons masked",
    );

    const target = 4;
    const sweep = await runner.readout({ sequences: [ids], reads: [[{ index: ids.length - 1, target }]], sweep: true });
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < H; h++) {
        const ref = referenceForward(dir, ids, { headMask: (ll, hh) => (ll === l && hh === h ? 0 : 1) }).logits[
          ids.length - 1
        ]!;
        close([sweep.targetProb[1 + l * H + h]!], [softmaxAt(ref, target)], `P(target) with head ${l}.${h} ablated`);
      }
    }
  });
});
