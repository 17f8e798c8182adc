/**
 * The attribution kernel against what ONNX Runtime can do on the same shape: exponentials per
 * second of NeuronScorer's u-matrix score() (B·L·F·V per call), of bare reductions over a
 * [B, chunk, V] fp32 input (the "ceiling": one ReduceLogSumExp, the op the engine uses), and of
 * the prototype kernels of kernels.ts on the same inputs and chunk shape.
 *
 * This module only builds the tasks and reads their timings; attribution.ts times them
 * interleaved with the engine's own score() calls, so the ratios compare like with like.
 */
import type { ImportanceInputs } from "../worker/analyses/index.ts";
import type { ModelRunner } from "../worker/index.ts";
import { floatTensor } from "../worker/onnx/index.ts";
import type { GraphSession } from "../worker/onnx/index.ts";
import { rateFigure } from "./figures.ts";
import { CEILING_OPS, ceilingGraph, createSession, filledInput, maxAbsDiff, PROTOTYPE_KERNELS, prototypeScore } from "./kernels.ts";
import { round } from "./timing.ts";
import type { Task, Timing } from "./timing.ts";

export interface KernelSetup {
  /** The model (or slice) the engine's score() is timed on, and its inputs. */
  runner: ModelRunner;
  inputs: ImportanceInputs;
  /** U^T per layer [F, V], read when the prototypes run (another task computes it). */
  uT: () => readonly Float32Array[];
  /** Neurons per chunk in the engine's score() (its [B, chunk, V] operand). */
  chunk: number;
  intraOpThreads: number;
  label: string;
}

/** The engine's score() as timed: U held as configured, with U precomputed (null: the same run), and its output. */
export interface EngineKernel {
  defaultSeconds: number;
  kernelOnlySeconds: number | null;
  imp: Float32Array;
}

export interface KernelBench {
  /** One task per CEILING_OPS, then one per PROTOTYPE_KERNELS. */
  tasks: Task[];
  figures(timings: readonly Timing[], engine: EngineKernel): ReturnType<typeof kernelFigures>;
  release(): Promise<void>;
}

export async function setUpKernelBench(k: KernelSetup): Promise<KernelBench> {
  const { vocabSize: V } = k.runner.shape;
  const shape = [k.inputs.batch, k.chunk, V];
  const x = floatTensor(filledInput(shape.reduce((a, b) => a * b, 1)), shape);
  const sessions: GraphSession[] = [];
  for (const op of CEILING_OPS) sessions.push(await createSession(ceilingGraph(op), k.intraOpThreads));
  const imps: Float32Array[] = PROTOTYPE_KERNELS.map(() => new Float32Array(0));
  const tasks: Task[] = [
    ...CEILING_OPS.map((op, i): Task => ({ label: `${k.label} ceiling ${op} [${shape.join(", ")}]`, run: () => sessions[i]!.run({ x }, ["lse"]) })),
    // Same chunk shape as the engine, so only the kernel's formulation differs.
    ...PROTOTYPE_KERNELS.map((kind, i): Task => ({
      label: `${k.label} prototype ${kind}`,
      run: async () => (imps[i] = await prototypeScore(k.runner, kind, k.uT(), k.inputs, k.chunk)),
    })),
  ];
  return {
    tasks,
    figures: (timings, engine) => kernelFigures(k, shape, timings, imps, engine),
    release: async () => {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}

function kernelFigures(k: KernelSetup, shape: number[], timings: readonly Timing[], imps: readonly Float32Array[], engine: EngineKernel) {
  const { nLayer: L, dMlp: F, vocabSize: V } = k.runner.shape;
  const B = k.inputs.batch;
  const exps = B * L * F * V;
  const size = shape.reduce((a, b) => a * b, 1);
  const reductions = CEILING_OPS.map((op, i) => ({
    op, shape, medianSeconds: round(timings[i]!.medianSeconds), expsPerSecond: round(size / timings[i]!.medianSeconds),
  }));
  const ceiling = reductions[CEILING_OPS.indexOf("ReduceLogSumExp")]!;
  const kernelOnlySeconds = engine.kernelOnlySeconds ?? engine.defaultSeconds;
  const prototypes = PROTOTYPE_KERNELS.map((kind, i) => {
    const t = timings[CEILING_OPS.length + i]!;
    return {
      kernel: kind, tileShape: shape, ...rateFigure(t, B * L * F), expsPerSecond: round(exps / t.medianSeconds),
      speedupOverEngineKernel: round(kernelOnlySeconds / t.medianSeconds, 3),
      maxAbsDiffVsEngine: maxAbsDiff(imps[i]!, engine.imp),
    };
  });
  const withKernelOnly = engine.kernelOnlySeconds !== null;
  return {
    expsPerScore: exps,
    achievedExpsPerSecond: round(exps / engine.defaultSeconds),
    ...(withKernelOnly ? { kernelOnlyExpsPerSecond: round(exps / kernelOnlySeconds) } : {}),
    ceiling,
    fractionOfCeiling: round(exps / engine.defaultSeconds / ceiling.expsPerSecond, 3),
    ...(withKernelOnly ? { kernelOnlyFractionOfCeiling: round(exps / kernelOnlySeconds / ceiling.expsPerSecond, 3) } : {}),
    otherReductions: reductions.filter((r) => r !== ceiling),
    prototypes,
  };
}
