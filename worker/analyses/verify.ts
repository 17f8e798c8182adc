/**
 * Verification (docs/method.md §5): with each case's own top-K CNA neurons,
 * - mask:   zero those neurons' coefficients (at every position);
 * - keep:   in layers >= the ablated head's layer, zero every other FFN neuron;
 * - random: zero as many neurons per layer as the case's top-K has there, drawn uniformly with
 *           mulberry32(deriveSeed(seed, "random", caseId)), layers in ascending order.
 * Accuracy is against the true answer over all the cell's cases.
 */
import { deriveSeed, mulberry32, sampleWithoutReplacement } from "../../core/index.ts";
import type { CaseTopK, VerifyPartial } from "../../core/index.ts";
import type { ModelRunner } from "../onnx/runner.ts";
import { argmax, checkCases, checkHead, chunks, row } from "./common.ts";
import type { AnalysisCase, Progress } from "./common.ts";
import { cna } from "./cna.ts";
import type { CnaOptions } from "./cna.ts";

export const DEFAULT_KS = [10, 20, 30, 50, 99] as const;
export const DEFAULT_VERIFY_SEED = 1234;

export interface VerifyOptions extends Omit<CnaOptions, "topK" | "onProgress"> {
  ks?: readonly number[];
  seed?: number;
  /** each case's CNA neurons, best first (at least max(ks)); computed here when absent */
  perCase?: readonly CaseTopK[];
  onProgress?: Progress;
}

type Variant = "mask" | "keep" | "random";
const VARIANTS: readonly Variant[] = ["mask", "keep", "random"];

export async function verify(
  runner: ModelRunner,
  cases: readonly AnalysisCase[],
  options: VerifyOptions,
): Promise<VerifyPartial> {
  const shape = runner.shape;
  checkCases(cases, shape);
  checkHead(shape, options.head.layer, options.head.head);
  const { nLayer: L, nHead: H, dMlp: F, vocabSize: V } = shape;
  const ks = [...(options.ks ?? DEFAULT_KS)];
  const seed = options.seed ?? DEFAULT_VERIFY_SEED;
  const kMax = Math.max(...ks);
  const topK = new Map(
    (options.perCase ?? (await cna(runner, cases, { ...options, topK: kMax, onProgress: undefined })).perCase).map(
      (t) => [t.caseId, t.neurons],
    ),
  );
  const p: VerifyPartial = {
    kind: "verify",
    dims: { nLayer: L, nHead: H, dMlp: F },
    cases: cases.length,
    baselineCorrect: 0,
    ablatedHead: { ...options.head },
    ks,
    seed,
    mask: ks.map(() => 0),
    keep: ks.map(() => 0),
    random: ks.map(() => 0),
  };
  const total = cases.length * (ks.length + 1);
  let done = 0;
  for (const batch of chunks(cases, options.maxBatchCases ?? 32)) {
    const sequences = batch.map((c) => c.prefixIds);
    const base = await runner.forward({ sequences, outputs: ["logits"] });
    batch.forEach((c, b) => {
      if (argmax(row(base.outputs.logits!, b, V)) === c.target) p.baselineCorrect++;
    });
    options.onProgress?.((done += batch.length), total);
    for (const [ki, k] of ks.entries()) {
      // One pass carries the three variants of every case: rows [mask..., keep..., random...].
      const rows = batch.length * VARIANTS.length;
      const masks = new Float32Array(rows * L * F).fill(1);
      batch.forEach((c, b) => {
        const chosen = topK.get(c.id);
        if (!chosen || chosen.length < Math.min(k, L * F))
          throw new RangeError(`case ${c.id}: no top-${k} CNA neurons to verify with`);
        const top = chosen.slice(0, k);
        const at = (variant: number, flat: number) => (variant * batch.length + b) * L * F + flat;
        for (const j of top) masks[at(0, j)] = 0;
        masks.fill(0, at(1, options.head.layer * F), at(1, L * F));
        for (const j of top) if (Math.floor(j / F) >= options.head.layer) masks[at(1, j)] = 1;
        const perLayer = new Array<number>(L).fill(0);
        for (const j of top) perLayer[Math.floor(j / F)]!++;
        const rng = mulberry32(deriveSeed(seed, "random", c.id));
        perLayer.forEach((count, l) => {
          for (const neuron of sampleWithoutReplacement(F, count, rng)) masks[at(2, l * F + neuron)] = 0;
        });
      });
      const out = await runner.forward({
        sequences: [...sequences, ...sequences, ...sequences],
        outputs: ["logits"],
        neuronMask: masks,
      });
      VARIANTS.forEach((variant, vi) =>
        batch.forEach((c, b) => {
          if (argmax(row(out.outputs.logits!, vi * batch.length + b, V)) === c.target) p[variant][ki]!++;
        }),
      );
      options.onProgress?.((done += batch.length), total);
    }
  }
  return p;
}
