/**
 * Attribution throughput (METHOD.md section 3) in neuron·cases per second: NeuronScorer's
 * "u-matrix" method against its "naive" one on the same inputs (residMid, mlpPost, final scale
 * and top-1 target from a real forward pass), and the kernel's exponentials per second against
 * a bare ReduceLogSumExp of the same shape (kernel-bench.ts).
 *
 * On a big model the methods are timed on a slice (some layers, the first neurons of each; see
 * subset.ts), the same slice's activations as input, and the JSON says which. U is held the way
 * the engine would hold it for the *whole* model under `uBudgetBytes`; in "chunked" mode it is
 * recomputed inside every score() call, so the default rate includes it and `kernelOnly` gives
 * the rate with U precomputed (its cost reported apart as `uPrecompute`).
 */
import { NeuronScorer } from "../worker/analyses/index.ts";
import type { ImportanceInputs } from "../worker/analyses/index.ts";
import { ModelRunner } from "../worker/index.ts";
import type { AnalysisCase, Gpt2Weights, ModelConfig } from "../worker/index.ts";
import { rateFigure, ratio } from "./figures.ts";
import { setUpKernelBench } from "./kernel-bench.ts";
import { computeU } from "./kernels.ts";
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
    : { whole: false, layers: s.slice.layers, neuronsPerLayer: s.neuronsPerLayer, fractionOfModel: round((s.layers * s.neuronsPerLayer) / (fullLayers * fullNeurons)) };
}

/** The model being measured: its runner, and the config and weights it was built from (to cut slices). */
export interface BenchModel {
  runner: ModelRunner;
  config: ModelConfig;
  weights: Gpt2Weights;
}

export async function benchAttribution({ runner, config, weights }: BenchModel, plan: AttributionPlan) {
  const { nLayer: L, dMlp: F, dModel: D, vocabSize: V } = runner.shape;
  const B = plan.cases.length;
  const fwd = await runner.forward({ sequences: plan.cases.map((c) => c.prefixIds), outputs: ["resid_mid", "mlp_post", "final_scale", "logits"] });
  const o = fwd.outputs;
  const full: ImportanceInputs = {
    batch: B, residMid: o.resid_mid!, mlpPost: o.mlp_post!, scale: o.final_scale!,
    target: plan.cases.map((_, b) => argmax(o.logits!.subarray(b * V, (b + 1) * V))),
  };
  const scopeOf = (slice: SliceSpec | null): Scope => {
    if (slice === null) return { runner, inputs: full, layers: L, neuronsPerLayer: F, slice, owned: false };
    const m = sliceModel(config, weights, slice);
    return {
      runner: new ModelRunner(`${runner.name}[layers ${slice.layers.join(",")} x ${slice.dMlp} neurons]`, m.config, m.weights, { intraOpThreads: plan.intraOpThreads }),
      inputs: { ...full, residMid: sliceActivations(full.residMid, B, L, D, slice.layers), mlpPost: sliceActivations(full.mlpPost, B, L, F, slice.layers, slice.dMlp) },
      layers: slice.layers.length, neuronsPerLayer: slice.dMlp, slice, owned: true,
    };
  };
  const u = scopeOf(plan.uMatrixSlice);
  const n = scopeOf(plan.naiveSlice);
  try {
    const fullUBytes = L * F * V * 4;
    const fullMode = fullUBytes <= plan.uBudgetBytes ? "precomputed" : "chunked";
    // A slice holds U the way the whole model would under the budget.
    const budgetFor = (s: Scope, mode: "precomputed" | "chunked") => (s.slice === null && mode === fullMode ? plan.uBudgetBytes : mode === "chunked" ? 0 : Number.MAX_SAFE_INTEGER);
    const uCases = B * u.layers * u.neuronsPerLayer;
    const label = `${runner.name} attribution`;
    const scorer = new NeuronScorer(u.runner, { method: "u-matrix", uBudgetBytes: budgetFor(u, fullMode), scratchBytes: plan.scratchBytes });
    // In chunked mode, a second scorer on the same inputs keeps U (its warm-up computes it), so
    // its timed runs are the kernel alone.
    const pre = scorer.uMode === "chunked"
      ? new NeuronScorer(u.runner, { method: "u-matrix", uBudgetBytes: budgetFor(u, "precomputed"), scratchBytes: plan.scratchBytes })
      : null;
    const naiveScorer = new NeuronScorer(n.runner, { method: "naive", uBudgetBytes: 0, scratchBytes: plan.scratchBytes });
    const chunk = Math.max(1, Math.min(u.neuronsPerLayer, Math.floor(plan.scratchBytes / (B * V * 4)))); // as NeuronScorer sizes it
    let engineImp: Float32Array = new Float32Array(0);
    let precomputedImp: Float32Array = new Float32Array(0);
    let naiveImp: Float32Array = new Float32Array(0);
    let uT: Float32Array[] = [];
    const kernelBench = await setUpKernelBench({ runner: u.runner, inputs: u.inputs, uT: () => uT, chunk, intraOpThreads: plan.intraOpThreads, label });
    const engineTasks: Array<[string, Task]> = [
      ["uMatrix", { label: `${label} u-matrix (${scorer.uMode})`, run: async () => (engineImp = await scorer.score(u.inputs)) }],
      ...(pre ? [["kernelOnly", { label: `${label} u-matrix (precomputed U)`, run: async () => (precomputedImp = await pre.score(u.inputs)) }] as [string, Task]] : []),
      // Before the prototypes: its warm-up fills uT for them.
      ["uPrecompute", { label: `${label} U precompute`, run: async () => (uT = await computeU(u.runner)) }],
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
    const kernelOnly = pre ? rateFigure(timed.get("kernelOnly")!, uCases) : null;
    const uTiming = timed.get("uPrecompute")!;
    const naive = rateFigure(timed.get("naive")!, B * n.layers * n.neuronsPerLayer);
    const kernel = kernelBench.figures(timings.slice(engineTasks.length), {
      defaultSeconds: uMatrix.medianSeconds, kernelOnlySeconds: kernelOnly?.medianSeconds ?? null, imp: pre ? precomputedImp : engineImp,
    });
    const uScale = (L * F) / (u.layers * u.neuronsPerLayer);

    return {
      unit: "neuron·case/s",
      cases: B,
      target: "top-1 of the forward pass",
      uMode: scorer.uMode,
      uModeWholeModel: fullMode,
      uBytesWholeModel: fullUBytes,
      uBudgetBytes: plan.uBudgetBytes,
      scratchBytes: plan.scratchBytes,
      chunkNeurons: chunk,
      uMatrix: { timed: describeSlice(u, L, F), ...uMatrix, includesURecompute: scorer.uMode === "chunked" },
      kernelOnly: kernelOnly && { timed: describeSlice(u, L, F), ...kernelOnly, note: "same inputs with U precomputed (excluded)" },
      uPrecompute: {
        timed: describeSlice(u, L, F), medianSeconds: round(uTiming.medianSeconds), timesSeconds: uTiming.timesSeconds.map((x) => round(x)),
        wholeModelSeconds: round(uTiming.medianSeconds * uScale), scaledFromSlice: uScale !== 1,
      },
      naive: { timed: describeSlice(n, L, F), ...naive },
      agreement: { naiveVsUMatrixMaxAbsDiff: compareOverlap(naiveImp, n, engineImp, u, B) },
      wholeModelSecondsPerBatch: {
        uMatrix: round((B * L * F) / uMatrix.neuronCasesPerSecond),
        naive: round((B * L * F) / naive.neuronCasesPerSecond),
        scaledFromSlice: u.slice !== null || n.slice !== null,
      },
      ratio: {
        uMatrixOverNaive: ratio(uMatrix.neuronCasesPerSecond / naive.neuronCasesPerSecond, plan.ratioTarget),
        ...(kernelOnly ? { kernelOnlyOverNaive: ratio(kernelOnly.neuronCasesPerSecond / naive.neuronCasesPerSecond, plan.ratioTarget) } : {}),
      },
      kernel,
    };
  } finally {
    if (u.owned) await u.runner.close();
    if (n.owned) await n.runner.close();
  }
}

/** Index of the largest value, lowest index on ties (METHOD.md section 6). */
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
        m = Math.max(m, Math.abs(naive[(b * n.layers + l) * n.neuronsPerLayer + k]! - um[(b * u.layers + l) * u.neuronsPerLayer + k]!));
      }
    }
  }
  return m;
}
