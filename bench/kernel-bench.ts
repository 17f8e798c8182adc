/**
 * What ONNX Runtime can do on the attribution kernel's shapes, measured next to it: exponentials
 * per second of bare reductions over a [B, C, V] fp32 input (the ceiling of any kernel that takes
 * one exponential per vocabulary entry per neuron·case), MACs per second of one moment GEMM
 * (x [C, V] times p_t [V, B], the engine's kernel per degree), and the exp-based prototype kernels
 * of kernels.ts on the same inputs.
 *
 * This module only builds the tasks and reads their timings; attribution.ts times them
 * interleaved with the engine's own score() calls, so the ratios compare like with like.
 */
import type { ImportanceInputs } from "../worker/analyses/index.ts";
import type { ModelRunner } from "../worker/index.ts";
import { floatTensor } from "../worker/onnx/index.ts";
import type { GraphSession } from "../worker/onnx/index.ts";
import { rateFigure } from "./figures.ts";
import {
  CEILING_OPS,
  ceilingGraph,
  computeU,
  createSession,
  filledInput,
  maxAbsDiff,
  momentGemmGraph,
  PROTOTYPE_KERNELS,
  prototypeScore,
} from "./kernels.ts";
import { round } from "./timing.ts";
import type { Task, Timing } from "./timing.ts";

/** The exp tiles are sized to stay in a last-level cache (a bigger tile measures DRAM instead). */
const EXP_TILE_BYTES = 24 * 2 ** 20;
/** Rows of the moment GEMM, as the engine's moment chunk. */
const GEMM_ROWS = 64;

export interface KernelSetup {
  /** The model (or slice) the engine's score() is timed on, and its inputs. */
  runner: ModelRunner;
  inputs: ImportanceInputs;
  intraOpThreads: number;
  label: string;
}

export interface KernelBench {
  /** One task per CEILING_OPS, the moment GEMM, then one per PROTOTYPE_KERNELS. */
  tasks: Task[];
  /** `engineImp`: the engine's scores on the same inputs, for the prototypes' agreement. */
  figures(timings: readonly Timing[], engineImp: Float32Array): KernelFigures;
  release(): Promise<void>;
}

export interface KernelFigures {
  ceilings: Array<{ op: string; shape: number[]; medianSeconds: number; expsPerSecond: number }>;
  /** The best of `ceilings`. */
  expsPerSecond: number;
  momentGemm: { shape: string; medianSeconds: number; macsPerSecond: number };
  prototypes: Array<
    ReturnType<typeof rateFigure> & { kernel: string; tile: number; expsPerSecond: number; maxAbsDiffVsEngine: number }
  >;
}

export async function setUpKernelBench(k: KernelSetup): Promise<KernelBench> {
  const { vocabSize: V } = k.runner.shape;
  const B = k.inputs.batch;
  const tile = Math.max(1, Math.floor(EXP_TILE_BYTES / (B * V * 4)));
  const shape = [B, tile, V];
  const x = floatTensor(filledInput(B * tile * V), shape);
  const sessions: GraphSession[] = [];
  for (const op of CEILING_OPS) sessions.push(await createSession(ceilingGraph(op), k.intraOpThreads));
  const gemm = await createSession(momentGemmGraph(), k.intraOpThreads);
  sessions.push(gemm);
  const gemmFeeds = {
    x: floatTensor(
      filledInput(GEMM_ROWS * V).map((v) => v / 4),
      [GEMM_ROWS, V],
    ),
    p_t: floatTensor(new Float32Array(V * B).fill(1 / V), [V, B]),
  };
  const uT = await computeU(k.runner);
  const imps: Float32Array[] = PROTOTYPE_KERNELS.map(() => new Float32Array(0));
  const tasks: Task[] = [
    ...CEILING_OPS.map((op, i): Task => ({
      label: `${k.label} ceiling ${op} [${shape.join(", ")}]`,
      run: () => sessions[i]!.run({ x }, ["lse"]),
    })),
    { label: `${k.label} moment GEMM [${GEMM_ROWS}, ${V}] x [${V}, ${B}]`, run: () => gemm.run(gemmFeeds, ["mu"]) },
    ...PROTOTYPE_KERNELS.map((kind, i): Task => ({
      label: `${k.label} prototype ${kind}`,
      run: async () => (imps[i] = await prototypeScore(k.runner, kind, uT, k.inputs, tile)),
    })),
  ];
  return {
    tasks,
    figures: (timings, engineImp) => kernelFigures(k, shape, timings, imps, engineImp),
    release: async () => {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}

function kernelFigures(
  k: KernelSetup,
  shape: number[],
  timings: readonly Timing[],
  imps: readonly Float32Array[],
  engineImp: Float32Array,
): KernelFigures {
  const { nLayer: L, dMlp: F, vocabSize: V } = k.runner.shape;
  const B = k.inputs.batch;
  const size = shape.reduce((a, b) => a * b, 1);
  const ceilings = CEILING_OPS.map((op, i) => ({
    op,
    shape,
    medianSeconds: round(timings[i]!.medianSeconds),
    expsPerSecond: round(size / timings[i]!.medianSeconds),
  }));
  const gemm = timings[CEILING_OPS.length]!;
  const prototypes = PROTOTYPE_KERNELS.map((kind, i) => {
    const t = timings[CEILING_OPS.length + 1 + i]!;
    return {
      kernel: kind,
      tile: shape[1]!,
      ...rateFigure(t, B * L * F),
      expsPerSecond: round((B * L * F * V) / t.medianSeconds),
      maxAbsDiffVsEngine: maxAbsDiff(imps[i]!, engineImp),
    };
  });
  return {
    ceilings,
    expsPerSecond: Math.max(...ceilings.map((c) => c.expsPerSecond)),
    momentGemm: {
      shape: `[${GEMM_ROWS}, ${V}] x [${V}, ${B}]`,
      medianSeconds: round(gemm.medianSeconds),
      macsPerSecond: round((GEMM_ROWS * V * B) / gemm.medianSeconds),
    },
    prototypes,
  };
}
