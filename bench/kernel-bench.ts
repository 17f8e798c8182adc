/**
 * The attribution kernel against what ONNX Runtime can do on the same shape: exponentials per
 * second of NeuronScorer's u-matrix score() (B·L·F·V per call), of bare reductions over a
 * [B, chunk, V] fp32 input (the "ceiling": one ReduceLogSumExp, the op the engine uses), and of
 * the prototype kernels of kernels.ts on the same inputs and chunk shape.
 */
import type { ImportanceInputs } from "../worker/analyses/index.ts";
import type { ModelRunner } from "../worker/index.ts";
import { floatTensor } from "../worker/onnx/index.ts";
import { rateFigure } from "./figures.ts";
import { CEILING_OPS, ceilingGraph, createSession, filledInput, maxAbsDiff, PROTOTYPE_KERNELS, prototypeScore } from "./kernels.ts";
import type { CeilingOp } from "./kernels.ts";
import { log, round, timeIt } from "./timing.ts";

export interface KernelBenchInput {
  /** The model (or slice) the engine's score() was timed on, with its inputs and U^T per layer. */
  runner: ModelRunner;
  inputs: ImportanceInputs;
  uT: readonly Float32Array[];
  /** Neurons per chunk in the engine's score() (its [B, chunk, V] operand). */
  chunk: number;
  /** The engine's score(): median seconds as run (U held as configured), with U precomputed (null when that is the same run), and its output with U precomputed. */
  engine: { default: number; kernelOnly: number | null; imp: Float32Array };
  reps: number;
  minSampleSeconds: number;
  intraOpThreads: number;
  label: string;
}

interface CeilingFigure {
  op: CeilingOp;
  shape: number[];
  medianSeconds: number;
  expsPerSecond: number;
}

export async function benchKernel(k: KernelBenchInput) {
  const { nLayer: L, dMlp: F, vocabSize: V } = k.runner.shape;
  const B = k.inputs.batch;
  const exps = B * L * F * V;
  const ceilings = await benchCeilings([B, k.chunk, V], k);
  const ceiling = ceilings.find((c) => c.op === "ReduceLogSumExp")!;
  const kernelOnlySeconds = k.engine.kernelOnly ?? k.engine.default;

  const prototypes = [];
  for (const kind of PROTOTYPE_KERNELS) {
    let imp: Float32Array = new Float32Array(0);
    // Same chunk shape as the engine, so only the kernel's formulation differs.
    const t = await timeIt(async () => (imp = await prototypeScore(k.runner, kind, k.uT, k.inputs, k.chunk)), { reps: k.reps, minSampleSeconds: k.minSampleSeconds, label: `${k.label} prototype ${kind}` });
    prototypes.push({
      kernel: kind, tileShape: [B, k.chunk, V], ...rateFigure(t, B * L * F), expsPerSecond: round(exps / t.medianSeconds),
      speedupOverEngineKernel: round(kernelOnlySeconds / t.medianSeconds, 3),
      maxAbsDiffVsEngine: maxAbsDiff(imp, k.engine.imp),
    });
  }
  return {
    expsPerScore: exps,
    achievedExpsPerSecond: round(exps / k.engine.default),
    ...(k.engine.kernelOnly !== null ? { kernelOnlyExpsPerSecond: round(exps / k.engine.kernelOnly) } : {}),
    ceiling,
    fractionOfCeiling: round(exps / k.engine.default / ceiling.expsPerSecond, 3),
    ...(k.engine.kernelOnly !== null ? { kernelOnlyFractionOfCeiling: round(exps / k.engine.kernelOnly / ceiling.expsPerSecond, 3) } : {}),
    otherReductions: ceilings.filter((c) => c !== ceiling),
    prototypes,
  };
}

/** A bare reduction over an fp32 input of the kernel's [B, chunk, V] shape, one per CEILING_OPS. */
async function benchCeilings(shape: number[], k: KernelBenchInput): Promise<CeilingFigure[]> {
  const out: CeilingFigure[] = [];
  const size = shape.reduce((a, b) => a * b, 1);
  const x = floatTensor(filledInput(size), shape);
  for (const op of CEILING_OPS) {
    const session = await createSession(ceilingGraph(op), k.intraOpThreads);
    try {
      const t = await timeIt(() => session.run({ x }, ["lse"]), { reps: k.reps, minSampleSeconds: k.minSampleSeconds, label: `${k.label} ceiling ${op} [${shape.join(", ")}]` });
      out.push({ op, shape, medianSeconds: round(t.medianSeconds), expsPerSecond: round(size / t.medianSeconds) });
    } finally {
      await session.release();
    }
  }
  log(`${k.label}: ceilings done`);
  return out;
}
