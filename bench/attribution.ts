/**
 * Attribution throughput (docs/method.md §3) in neuron·cases per second: NeuronScorer's
 * "u-matrix" method against its "naive" one on the same inputs (residMid, mlpPost, final scale
 * and top-1 target from a real forward pass), and what bounds the ratio (kernel-bench.ts).
 *
 * On a big model the methods are timed on a slice (some layers, the first neurons of each; see
 * subset.ts), the same slice's activations as input, and the JSON says which. U is held the way
 * the engine would hold it for the *whole* model under `uBudgetBytes`: "precomputed" (kept per
 * runner, its one-off cost reported apart as `uPrecompute`) or "chunked" (recomputed inside every
 * score() call, so the default rate includes it). The other mode is timed too, and so is the
 * exact log-space kernel alone (`logSpace`: the engine's rate if no pair had |t| in the
 * moments' range).
 */
import { NeuronScorer } from "../worker/analyses/index.ts";
import type { ImportanceInputs, ImportanceKernel } from "../worker/analyses/index.ts";
import { ModelRunner } from "../worker/index.ts";
import type { AnalysisCase, ModelConfig, ModelWeights } from "../worker/index.ts";
import { rateFigure, ratio } from "./figures.ts";
import { setUpKernelBench } from "./kernel-bench.ts";
import type { KernelFigures } from "./kernel-bench.ts";
import { maxAbsDiff } from "./kernels.ts";
import { sliceActivations, sliceModel } from "./subset.ts";
import type { SliceSpec } from "./subset.ts";
import { round, timeInterleaved } from "./timing.ts";
import type { Task, Timing } from "./timing.ts";

export interface AttributionPlan {
  cases: readonly AnalysisCase[];
  /** Where to time "u-matrix" and "naive" (null: the whole model). */
  uMatrixSlice: SliceSpec | null;
  naiveSlice: SliceSpec | null;
  uBudgetBytes: number;
  scratchBytes: number;
  reps: number;
  /** A repetition repeats the call until this much time has passed (tiny models). */
  minSampleSeconds: number;
  /** For the slice runners and the reference sessions, as the measured runner has. */
  intraOpThreads: number;
  ratioTarget: number | null;
}

interface Scope {
  runner: ModelRunner;
  inputs: ImportanceInputs;
  layers: number;
  neuronsPerLayer: number;
  slice: SliceSpec | null;
  owned: boolean;
}

function describeSlice(s: Scope, fullLayers: number, fullNeurons: number) {
  return s.slice === null
    ? { whole: true, layers: fullLayers, neuronsPerLayer: fullNeurons }
    : {
        whole: false,
        layers: s.slice.layers,
        neuronsPerLayer: s.neuronsPerLayer,
        fractionOfModel: round((s.layers * s.neuronsPerLayer) / (fullLayers * fullNeurons)),
      };
}

/** The model being measured: its runner, and the config and weights it was built from (to cut slices). */
export interface BenchModel {
  runner: ModelRunner;
  config: ModelConfig;
  weights: ModelWeights;
}

export async function benchAttribution({ runner, config, weights }: BenchModel, plan: AttributionPlan) {
  const { nLayer: L, dMlp: F, dModel: D, vocabSize: V } = runner.shape;
  const B = plan.cases.length;
  const fwd = await runner.forward({
    sequences: plan.cases.map((c) => c.prefixIds),
    outputs: ["resid_mid", "mlp_post", "final_scale", "logits"],
  });
  const o = fwd.outputs;
  const full: ImportanceInputs = {
    batch: B,
    residMid: o.resid_mid!,
    mlpPost: o.mlp_post!,
    scale: o.final_scale!,
    target: plan.cases.map((_, b) => argmax(o.logits!.subarray(b * V, (b + 1) * V))),
  };
  const scopeOf = (slice: SliceSpec | null): Scope => {
    if (slice === null) return { runner, inputs: full, layers: L, neuronsPerLayer: F, slice, owned: false };
    const m = sliceModel(config, weights, slice);
    return {
      runner: new ModelRunner(
        `${runner.name}[layers ${slice.layers.join(",")} x ${slice.dMlp} neurons]`,
        m.config,
        m.weights,
        { intraOpThreads: plan.intraOpThreads },
      ),
      inputs: {
        ...full,
        residMid: sliceActivations(full.residMid, B, L, D, slice.layers),
        mlpPost: sliceActivations(full.mlpPost, B, L, F, slice.layers, slice.dMlp),
      },
      layers: slice.layers.length,
      neuronsPerLayer: slice.dMlp,
      slice,
      owned: true,
    };
  };
  const u = scopeOf(plan.uMatrixSlice);
  const n = scopeOf(plan.naiveSlice);
  try {
    const fullUBytes = L * F * (V + 1) * 4; // as NeuronScorer counts it
    const fullMode = fullUBytes <= plan.uBudgetBytes ? "precomputed" : "chunked";
    const otherMode = fullMode === "precomputed" ? "chunked" : "precomputed";
    // A slice holds U the way the whole model would under the budget.
    const budgetFor = (s: Scope, mode: "precomputed" | "chunked") =>
      s.slice === null && mode === fullMode ? plan.uBudgetBytes : mode === "chunked" ? 0 : Number.MAX_SAFE_INTEGER;
    const uCases = B * u.layers * u.neuronsPerLayer;
    const label = `${runner.name} attribution`;
    const scorerFor = (mode: "precomputed" | "chunked", kernel: ImportanceKernel = "moments") =>
      new NeuronScorer(u.runner, {
        method: "u-matrix",
        kernel,
        uBudgetBytes: budgetFor(u, mode),
        scratchBytes: plan.scratchBytes,
      });
    const scorer = scorerFor(fullMode);
    const other = scorerFor(otherMode);
    const logSpaceScorer = scorerFor("precomputed", "log-space");
    const naiveScorer = new NeuronScorer(n.runner, {
      method: "naive",
      uBudgetBytes: 0,
      scratchBytes: plan.scratchBytes,
    });
    let engineImp: Float32Array = new Float32Array(0);
    let logSpaceImp: Float32Array = new Float32Array(0);
    let naiveImp: Float32Array = new Float32Array(0);
    const kernelBench = await setUpKernelBench({
      runner: u.runner,
      inputs: u.inputs,
      intraOpThreads: plan.intraOpThreads,
      label,
    });
    const engineTasks: Array<[string, Task]> = [
      [
        "uMatrix",
        { label: `${label} u-matrix (${scorer.uMode})`, run: async () => (engineImp = await scorer.score(u.inputs)) },
      ],
      ["other", { label: `${label} u-matrix (${other.uMode})`, run: () => other.score(u.inputs) }],
      [
        "logSpace",
        {
          label: `${label} u-matrix log-space kernel`,
          run: async () => (logSpaceImp = await logSpaceScorer.score(u.inputs)),
        },
      ],
      ["uPrecompute", { label: `${label} U precompute`, run: () => precomputeU(u.runner, plan.scratchBytes) }],
      ["naive", { label: `${label} naive`, run: async () => (naiveImp = await naiveScorer.score(n.inputs)) }],
    ];
    let timings: Timing[];
    try {
      // Everything is timed round-robin (timing.ts), so the ratios below see the same load.
      timings = await timeInterleaved([...engineTasks.map(([, t]) => t), ...kernelBench.tasks], plan);
    } finally {
      await kernelBench.release();
    }
    const timed = new Map(engineTasks.map(([key], i) => [key, timings[i]!]));
    const uMatrix = rateFigure(timed.get("uMatrix")!, uCases);
    const otherFigure = rateFigure(timed.get("other")!, uCases);
    const logSpace = rateFigure(timed.get("logSpace")!, uCases);
    const uTiming = timed.get("uPrecompute")!;
    const naive = rateFigure(timed.get("naive")!, B * n.layers * n.neuronsPerLayer);
    const kernel = kernelBench.figures(timings.slice(engineTasks.length), engineImp);
    const uScale = (L * F) / (u.layers * u.neuronsPerLayer);
    // One more call on a fresh scorer, for how its pairs were split between the kernels.
    const counting = scorerFor(fullMode);
    await counting.score(u.inputs);
    const counts = counting.kernelCounts();
    const versus = (x: number) => ratio(x / naive.neuronCasesPerSecond, null);

    return {
      unit: "neuron·case/s",
      cases: B,
      target: "top-1 of the forward pass",
      uMode: scorer.uMode,
      uModeWholeModel: fullMode,
      uBytesWholeModel: fullUBytes,
      uBudgetBytes: plan.uBudgetBytes,
      scratchBytes: plan.scratchBytes,
      uMatrix: { timed: describeSlice(u, L, F), ...uMatrix, includesURecompute: scorer.uMode === "chunked" },
      [otherMode === "precomputed" ? "kernelOnly" : "chunked"]: {
        timed: describeSlice(u, L, F),
        ...otherFigure,
        note:
          otherMode === "precomputed"
            ? "same inputs with U precomputed (excluded)"
            : "same inputs with U recomputed inside every call",
      },
      logSpace: {
        timed: describeSlice(u, L, F),
        ...logSpace,
        note: "every pair by the exact log-space kernel, U precomputed",
      },
      pairs: {
        moments: round(counts.moments / uCases),
        meanDegree: round(counts.degreeSum / Math.max(1, counts.moments)),
        logSpace: round(counts.logSpace / uCases),
      },
      uPrecompute: {
        timed: describeSlice(u, L, F),
        medianSeconds: round(uTiming.medianSeconds),
        timesSeconds: uTiming.timesSeconds.map((x) => round(x)),
        wholeModelSeconds: round(uTiming.medianSeconds * uScale),
        scaledFromSlice: uScale !== 1,
      },
      naive: { timed: describeSlice(n, L, F), ...naive },
      agreement: {
        naiveVsUMatrixMaxAbsDiff: compareOverlap(naiveImp, n, engineImp, u, B),
        naiveVsLogSpaceMaxAbsDiff: compareOverlap(naiveImp, n, logSpaceImp, u, B),
        logSpaceVsUMatrixMaxAbsDiff: maxAbsDiff(logSpaceImp, engineImp),
      },
      wholeModelSecondsPerBatch: {
        uMatrix: round((B * L * F) / uMatrix.neuronCasesPerSecond),
        naive: round((B * L * F) / naive.neuronCasesPerSecond),
        scaledFromSlice: u.slice !== null || n.slice !== null,
      },
      ratio: {
        uMatrixOverNaive: ratio(uMatrix.neuronCasesPerSecond / naive.neuronCasesPerSecond, plan.ratioTarget),
        [otherMode === "precomputed" ? "kernelOnlyOverNaive" : "chunkedOverNaive"]: versus(
          otherFigure.neuronCasesPerSecond,
        ),
        logSpaceOverNaive: versus(logSpace.neuronCasesPerSecond),
      },
      kernel,
      bound: ratioBound({
        naiveRate: naive.neuronCasesPerSecond,
        dModel: D,
        vocab: V,
        kernel,
        meanDegree: counts.degreeSum / Math.max(1, counts.moments),
        achieved: uMatrix.neuronCasesPerSecond,
      }),
    };
  } finally {
    if (u.owned) await u.runner.close();
    if (n.owned) await n.runner.close();
  }
}

/** The engine's U precompute for every layer of `runner`, cold (as NeuronScorer blocks it). */
async function precomputeU(runner: ModelRunner, scratchBytes: number): Promise<void> {
  const { nLayer: L, dMlp: F, vocabSize: V } = runner.shape;
  const rows = Math.max(1, Math.min(F, Math.floor(scratchBytes / (4 * V * 4))));
  for (let l = 0; l < L; l++)
    for (let k0 = 0; k0 < F; k0 += rows) await NeuronScorer.computeU(runner, l, k0, Math.min(rows, F - k0));
}

interface BoundInputs {
  naiveRate: number;
  dModel: number;
  vocab: number;
  kernel: KernelFigures;
  meanDegree: number;
  achieved: number;
}

/**
 * What caps u-matrix/naive on this machine, from this run's figures. The naive method costs
 * D·V MACs (and a V-wide log-softmax) per neuron·case; a kernel that takes one exponential per
 * vocabulary entry per neuron·case costs at least V / (best exps/s), so its ratio is at most
 * expsPerSecond / (V · naive rate) whatever else it does; the moment kernel costs at least
 * meanDegree · V MACs of its GEMMs (before its powers, gathers and per-layer softmax).
 */
function ratioBound(b: BoundInputs) {
  return {
    naiveMacsPerSecond: round(b.naiveRate * b.dModel * b.vocab),
    expsPerSecond: b.kernel.expsPerSecond,
    expKernelMaxRatio: round(b.kernel.expsPerSecond / (b.vocab * b.naiveRate), 3),
    momentGemmMacsPerSecond: b.kernel.momentGemm.macsPerSecond,
    meanDegree: round(b.meanDegree, 3),
    momentKernelMaxRatio: round(b.kernel.momentGemm.macsPerSecond / (b.meanDegree * b.vocab * b.naiveRate), 3),
    achievedRatio: round(b.achieved / b.naiveRate, 3),
    note:
      "expKernelMaxRatio = exps/s ceiling / (V x naive rate): no kernel with one exponential per vocabulary entry per neuron·case can beat it here; " +
      "momentKernelMaxRatio = moment-GEMM MAC/s / (mean degree x V x naive rate): the engine's GEMMs alone, before its powers, gathers and per-layer softmax",
  };
}

/** Index of the largest value, lowest index on ties (docs/method.md §6). */
function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Largest |naive - u-matrix| over the neurons both timed (same layers, naive's neurons a prefix). */
function compareOverlap(naive: Float32Array, n: Scope, um: Float32Array, u: Scope, B: number): number | null {
  const sameLayers = JSON.stringify(n.slice?.layers ?? null) === JSON.stringify(u.slice?.layers ?? null);
  if (!sameLayers || n.neuronsPerLayer > u.neuronsPerLayer) return null;
  let m = 0;
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < n.layers; l++) {
      for (let k = 0; k < n.neuronsPerLayer; k++) {
        m = Math.max(
          m,
          Math.abs(
            naive[(b * n.layers + l) * n.neuronsPerLayer + k]! - um[(b * u.layers + l) * u.neuronsPerLayer + k]!,
          ),
        );
      }
    }
  }
  return m;
}
