/**
 * Head-ablation throughput of the engine's three modes, in (case·head) pairs per second, each
 * timed end to end through `headAblation` (clean pass included, as a user would run it).
 *
 * The modes' repetitions are interleaved (single, per-head, packed, single, ...) so a change in
 * background load during the run hits all three alike. Warm-up runs each mode on one case: that
 * builds every graph variant the mode uses without paying for a full repetition.
 * `explanation` times plain forwards at batch 1 and at packed's batch size to show where the
 * packed/single ratio comes from.
 */
import type { HeadAblationPartial } from "../core/index.ts";
import { headAblation } from "../worker/index.ts";
import type { AnalysisCase, HeadAblationMode, ModelRunner } from "../worker/index.ts";
import { ratio } from "./figures.ts";
import type { Ratio } from "./figures.ts";
import { round, timeInterleaved } from "./timing.ts";

export interface HeadAblationPlan {
  /** Cases for "per-head" and "packed". */
  cases: readonly AnalysisCase[];
  /** Cases for "single" (a bounded subset on big models: it is one forward per pair). */
  singleCases: readonly AnalysisCase[];
  reps: number;
  /** A repetition repeats the call until this much time has passed (tiny models). */
  minSampleSeconds: number;
  maxBatchRows: number;
  targets: { packedOverSingle: number; packedOverPerHead: number };
}

export interface ModeFigure {
  cases: number;
  pairs: number;
  medianSeconds: number;
  timesSeconds: number[];
  callsPerRep: number[];
  warmupSeconds: number;
  pairsPerSecond: number;
}

export interface HeadAblationFigures {
  unit: "(case·head)/s";
  heads: number;
  maxBatchRows: number;
  single: ModeFigure;
  perHead: ModeFigure;
  packed: ModeFigure;
  ratios: { packedOverSingle: Ratio; packedOverPerHead: Ratio };
  /** per-head and packed must agree (same cases): largest |difference| of mean P(correct) over heads, and of correct counts. */
  agreement: { maxMeanProbDiff: number; maxCorrectDiff: number };
  explanation: Awaited<ReturnType<typeof explain>>;
}

export async function benchHeadAblation(runner: ModelRunner, plan: HeadAblationPlan): Promise<HeadAblationFigures> {
  const { nLayer: L, nHead: H } = runner.shape;
  const modes: Array<{ key: "single" | "perHead" | "packed"; mode: HeadAblationMode; cases: readonly AnalysisCase[] }> = [
    { key: "single", mode: "single", cases: plan.singleCases },
    { key: "perHead", mode: "per-head", cases: plan.cases },
    { key: "packed", mode: "packed", cases: plan.cases },
  ];
  const run = (mode: HeadAblationMode, cases: readonly AnalysisCase[]) => headAblation(runner, cases, { mode, maxBatchRows: plan.maxBatchRows });

  // per-head on one case is exactly single on one case (144 forwards at batch 1 on GPT-2 small),
  // so its warm-up warms both; packed's builds every start-layer graph variant.
  const last: Partial<Record<string, HeadAblationPartial>> = {};
  const timings = await timeInterleaved(modes.map((m) => ({
    label: `${runner.name} head ablation ${m.mode} (${m.cases.length} cases)`,
    run: async () => (last[m.key] = await run(m.mode, m.cases)),
    warmup: m.key === "single" ? null : () => run(m.mode, m.cases.slice(0, 1)),
  })), plan);
  const figure = (i: number): ModeFigure => {
    const t = timings[i]!;
    const cases = modes[i]!.cases.length;
    const pairs = cases * L * H;
    return {
      cases, pairs, medianSeconds: round(t.medianSeconds), timesSeconds: t.timesSeconds.map((x) => round(x)), callsPerRep: t.callsPerRep,
      warmupSeconds: round(t.warmupSeconds), pairsPerSecond: round(pairs / t.medianSeconds),
    };
  };
  const [single, perHead, packed] = [figure(0), figure(1), figure(2)];
  return {
    unit: "(case·head)/s",
    heads: L * H,
    maxBatchRows: plan.maxBatchRows,
    single,
    perHead,
    packed,
    ratios: {
      packedOverSingle: ratio(packed.pairsPerSecond / single.pairsPerSecond, plan.targets.packedOverSingle),
      packedOverPerHead: ratio(packed.pairsPerSecond / perHead.pairsPerSecond, plan.targets.packedOverPerHead),
    },
    agreement: agreement(last["perHead"]!, last["packed"]!),
    explanation: await explain(runner, plan, packed.pairsPerSecond / single.pairsPerSecond),
  };
}

/**
 * Why packed/single is what it is: packed wins by (a) batching, measured here as the forward time
 * per row at batch 1 over that at packed's batch size, and (b) reusing the clean prefix, which
 * needs (L+1)/2 recomputed layers per pair where single needs L (both plus the clean pass,
 * L layers per case, i.e. 1/H per pair). Their product predicts the ratio.
 */
async function explain(runner: ModelRunner, plan: HeadAblationPlan, measured: number) {
  const { nLayer: L, nHead: H } = runner.shape;
  const rows = Math.min(plan.maxBatchRows, plan.cases.length * H);
  const sequences = Array.from({ length: rows }, (_, i) => plan.cases[i % plan.cases.length]!.prefixIds);
  const sizes = [1, rows];
  const timings = await timeInterleaved(sizes.map((n) => ({
    label: `${runner.name} forward batch ${n}`,
    run: () => runner.forward({ sequences: sequences.slice(0, n), outputs: ["logits"] }),
  })), plan);
  const batch1 = timings[0]!.medianSeconds;
  const batched = timings[1]!.medianSeconds / rows;
  const batchingGain = batch1 / batched;
  const layersPerPairSingle = L + 1 / H;
  const layersPerPairPacked = (L + 1) / 2 + 1 / H;
  const prefixReuseGain = layersPerPairSingle / layersPerPairPacked;
  return {
    forwardSecondsPerRowBatch1: round(batch1),
    forwardSecondsPerRowBatched: round(batched),
    batchedRows: rows,
    batchingGain: round(batchingGain, 3),
    layersPerPair: { single: round(layersPerPairSingle), packed: round(layersPerPairPacked) },
    prefixReuseGain: round(prefixReuseGain, 3),
    predictedPackedOverSingle: round(batchingGain * prefixReuseGain, 3),
    measuredPackedOverSingle: round(measured, 3),
  };
}

function agreement(a: HeadAblationPartial, b: HeadAblationPartial): HeadAblationFigures["agreement"] {
  let prob = 0;
  let correct = 0;
  a.probSum.forEach((p, i) => {
    prob = Math.max(prob, Math.abs(p - b.probSum[i]!) / a.cases);
    correct = Math.max(correct, Math.abs(a.correct[i]! - b.correct[i]!));
  });
  return { maxMeanProbDiff: prob, maxCorrectDiff: correct };
}
