/**
 * The large-model benchmark's measurements, one function per part: load (cold and warm weight
 * cache), head ablation packed vs one forward per (case, head), CNA on a slice of layers, and the
 * attribution kernel against its ceilings. Each part opens its own runners and closes them before
 * it returns: a graph variant is a session, and each session maps the weight files again.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { loadCheckpoint, ModelRunner, weightBytes } from "../worker/index.ts";
import type { AnalysisCase, Checkpoint, RunnerOptions } from "../worker/index.ts";
import { CNA_FORWARD_OUTPUTS, cna, defaultUBudgetBytes, headAblation, paperForward } from "../worker/analyses/index.ts";
import type { HeadRef } from "../core/index.ts";
import { benchAttribution } from "./attribution.ts";
import type { Scratch } from "./scratch.ts";
import { sliceModel } from "./subset.ts";
import { log, round, seconds, timeInterleaved } from "./timing.ts";

const MIB = 2 ** 20;
/** The engine's default (worker/analyses/head-ablation.ts), stated in the JSON. */
const MAX_BATCH_ROWS = 256;

export interface PartContext {
  scratch: Scratch;
  /** Every runner's options (external weights, threads, prepacking, the bench's weight cache). */
  runnerOptions: RunnerOptions;
  name: string;
}

export interface LoadFigure {
  cache: "cold" | "warm";
  /** config, safetensors headers, tokenizer, and the content digest (every file hashed); no weight is read */
  loadCheckpointSeconds: number;
  /** new ModelRunner: the float32 cache of the bf16 weights written (cold) or found (warm) */
  runnerSeconds: number;
  /** the first forward: graph built, session created, weights mapped and read */
  firstForwardSeconds: number;
  totalSeconds: number;
  /** the two forwards of a CNA batch (clean, and one head ablated), after the first */
  forwardPairSeconds: number;
  cacheFileBytes: number;
  /** how the runner holds the weights: graphs pointing into files, sessions prepacking them */
  externalWeights: boolean;
  prepackWeights: boolean;
}

/** loadCheckpoint + ModelRunner + a first forward, then a CNA batch's forward pair; the runner is closed after. */
export async function measureLoad(
  x: PartContext,
  dir: string,
  cacheDir: string,
  cache: "cold" | "warm",
  casesOf: (ck: Checkpoint) => readonly AnalysisCase[],
): Promise<{ figure: LoadFigure; checkpoint: Checkpoint }> {
  const t0 = performance.now();
  const ck = await loadCheckpoint(dir);
  const t1 = performance.now();
  const cases = casesOf(ck);
  const t1b = performance.now();
  const runner = new ModelRunner(x.name, ck.config, ck.weights, { ...x.runnerOptions, digest: ck.digest });
  const t2 = performance.now();
  return x.scratch.with(runner, async () => {
    const sequences = cases.map((c) => c.prefixIds);
    await runner.forward({ sequences, outputs: CNA_FORWARD_OUTPUTS });
    const t3 = performance.now();
    const { nLayer: L, nHead: H } = ck.config;
    const mask = new Float32Array(cases.length * L * H).fill(1).map((v, i) => (i % (L * H) === 0 ? 0 : v)); // head 0.0 ablated
    const forwardPairSeconds = await seconds(async () => {
      await runner.forward({ sequences, outputs: CNA_FORWARD_OUTPUTS });
      await runner.forward({ sequences, outputs: CNA_FORWARD_OUTPUTS, headMask: mask });
    });
    const s = (a: number, b: number) => round((b - a) / 1000);
    log(`load (${cache} cache): checkpoint ${s(t0, t1)} s, runner ${s(t1b, t2)} s, first forward ${s(t2, t3)} s`);
    const figure: LoadFigure = {
      cache,
      loadCheckpointSeconds: s(t0, t1),
      runnerSeconds: s(t1b, t2),
      firstForwardSeconds: s(t2, t3),
      totalSeconds: round(s(t0, t1) + s(t1b, t3)),
      forwardPairSeconds: round(forwardPairSeconds),
      cacheFileBytes: directoryBytes(cacheDir),
      externalWeights: runner.externalWeights,
      prepackWeights: runner.prepackWeights,
    };
    return { figure, checkpoint: ck };
  });
}

/** Bytes of the files in `dir`; 0 when there is none (a float32 checkpoint needs no cache). */
function directoryBytes(dir: string): number {
  return existsSync(dir) ? readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0) : 0;
}

/** `count` heads spread evenly over the model's L·H, as layer.head. */
function spreadHeads(nLayer: number, nHead: number, count: number): HeadRef[] {
  const n = Math.min(count, nLayer * nHead);
  return Array.from({ length: n }, (_, i) => {
    const slot = Math.floor(((i + 0.5) * nLayer * nHead) / n);
    return { layer: Math.floor(slot / nHead), head: slot % nHead };
  });
}

export interface ModeFigure {
  cases: number;
  pairs: number;
  seconds: number;
  pairsPerSecond: number;
  /** untimed: building the mode's graph and session, mapping the weights */
  warmupSeconds: number;
}

/**
 * Packed (every head of each case in one sweep run per row) against the paper's procedure, one
 * full forward per (case, head) at batch size 1 ("single", on `singleHeads` heads spread over the
 * layers, same cases): pairs per second each, and their agreement on the heads both ran. One
 * repetition each (a packed case is L·H pairs), on a runner of its own.
 */
export async function benchPackedVsSingle(
  x: PartContext,
  ck: Checkpoint,
  cases: readonly AnalysisCase[],
  singleHeads: number,
) {
  const { nLayer: L, nHead: H } = ck.config;
  const newRunner = () => new ModelRunner(x.name, ck.config, ck.weights, { ...x.runnerOptions, digest: ck.digest });
  const once = { reps: 1, minSampleSeconds: 0 };
  const figure = (t: { medianSeconds: number; warmupSeconds: number }, pairs: number): ModeFigure => ({
    cases: cases.length,
    pairs,
    seconds: round(t.medianSeconds),
    pairsPerSecond: round(pairs / t.medianSeconds),
    warmupSeconds: round(t.warmupSeconds),
  });

  const packed = await x.scratch.with(newRunner(), async (runner) => {
    let partial: Awaited<ReturnType<typeof headAblation>> | undefined;
    const [t] = await timeInterleaved(
      [
        {
          label: `${x.name} head ablation packed (${cases.length} cases x ${L * H} heads)`,
          run: async () =>
            (partial = await headAblation(runner, cases, { mode: "packed", maxBatchRows: MAX_BATCH_ROWS })),
          // the sweep graph's session, on one one-token row (cheap next to a case's sweep)
          warmup: () =>
            runner.readout({ sequences: [[cases[0]!.prefixIds[0]!]], reads: [[{ index: 0, target: 0 }]], sweep: true }),
        },
      ],
      once,
    );
    return { figure: figure(t!, cases.length * L * H), partial: partial! };
  });

  const heads = spreadHeads(L, H, singleHeads);
  const single = await x.scratch.with(newRunner(), async (runner) => {
    const probs = new Float64Array(heads.length);
    const correct = new Int32Array(heads.length);
    const [t] = await timeInterleaved(
      [
        {
          label: `${x.name} head ablation single (${cases.length} cases x ${heads.length} heads, one forward each)`,
          run: async () => {
            probs.fill(0);
            correct.fill(0);
            for (const c of cases) {
              for (const [i, head] of heads.entries()) {
                const out = await paperForward(runner, c, head);
                probs[i]! += out.prob;
                if (out.top1 === c.target) correct[i]!++;
              }
            }
          },
          warmup: () => paperForward(runner, cases[0]!, null),
        },
      ],
      once,
    );
    return { figure: figure(t!, cases.length * heads.length), probs, correct };
  });

  let maxMeanProbDiff = 0;
  let maxCorrectDiff = 0;
  heads.forEach((head, i) => {
    const slot = head.layer * H + head.head;
    maxMeanProbDiff = Math.max(
      maxMeanProbDiff,
      Math.abs(single.probs[i]! - packed.partial.probSum[slot]!) / cases.length,
    );
    maxCorrectDiff = Math.max(maxCorrectDiff, Math.abs(single.correct[i]! - packed.partial.correct[slot]!));
  });
  return {
    unit: "(case·head)/s",
    heads: L * H,
    packed: { ...packed.figure, headsPerCase: L * H, maxBatchRows: MAX_BATCH_ROWS },
    single: {
      ...single.figure,
      headsPerCase: heads.length,
      headsAblated: heads.map((h) => `${h.layer}.${h.head}`),
      secondsPerForward: round(single.figure.seconds / single.figure.pairs),
    },
    packedOverSingle: round(packed.figure.pairsPerSecond / single.figure.pairsPerSecond, 3),
    agreement: { heads: heads.length, maxMeanProbDiff, maxCorrectDiff },
  };
}

/**
 * cna() with head 0.0 ablated on a slice of the model's first `layers` layers (every neuron, the
 * full vocabulary, U held as the whole model would hold it under the default budget), its time
 * split by graph (RunnerOptions.onRun), and the whole model's time per batch extrapolated: the
 * measured forward pair of the whole model plus the slice's scoring time per layer times L.
 */
export async function benchCnaSlice(
  x: PartContext,
  ck: Checkpoint,
  cases: readonly AnalysisCase[],
  layers: number,
  wholeForwardPairSeconds: number,
) {
  const { nLayer: L, dMlp: F, vocabSize: V } = ck.config;
  const whole = layers === L;
  const slice = whole
    ? { config: ck.config, weights: ck.weights }
    : sliceModel(ck.config, ck.weights, { layers: Array.from({ length: layers }, (_, l) => l), dMlp: F });
  const budget = defaultUBudgetBytes();
  const wholeUBytes = L * F * (V + 1) * 4; // as NeuronScorer counts it
  const uMode = wholeUBytes <= budget ? "precomputed" : "chunked";
  const byGraph = new Map<string, { runs: number; ms: number }>();
  const onRun = (key: string, _batch: number, ms: number) => {
    const group = key.startsWith("forward|") ? "forward" : key.replace(/-\d+$/, "");
    const g = byGraph.get(group) ?? { runs: 0, ms: 0 };
    byGraph.set(group, { runs: g.runs + 1, ms: g.ms + ms });
  };
  // A slice is another set of tensors: its float32 copies go with its runner, not into the digest's cache file.
  const options: RunnerOptions = whole
    ? { ...x.runnerOptions, digest: ck.digest, onRun }
    : { ...x.runnerOptions, weightCacheDir: null, onRun };
  const name = whole ? x.name : `${x.name}[layers 0..${layers - 1}]`;
  const t0 = performance.now();
  const runner = new ModelRunner(name, slice.config, slice.weights, options);
  const runnerSeconds = (performance.now() - t0) / 1000;
  return x.scratch.with(runner, async () => {
    log(`${name}: cna over ${cases.length} cases, U ${uMode}`);
    const t = await seconds(() =>
      cna(runner, cases, {
        head: { layer: 0, head: 0 },
        maxBatchCases: cases.length,
        uBudgetBytes: uMode === "precomputed" ? budget : 0,
      }),
    );
    const graphs = Object.fromEntries([...byGraph].map(([k, v]) => [k, { runs: v.runs, seconds: round(v.ms / 1000) }]));
    const forward = (byGraph.get("forward")?.ms ?? 0) / 1000;
    const scoringPerLayer = (t - forward) / layers;
    const wholeSeconds = whole ? t : wholeForwardPairSeconds + scoringPerLayer * L;
    return {
      cases: cases.length,
      batches: 1,
      ablatedHead: "0.0",
      measured: {
        layers,
        neuronsPerLayer: F,
        vocab: V,
        seconds: round(t),
        byGraph: graphs,
        otherSeconds: round(t - [...byGraph.values()].reduce((n, g) => n + g.ms, 0) / 1000),
      },
      sliceRunnerSeconds: round(runnerSeconds),
      uMode,
      uBytesWholeModel: wholeUBytes,
      uBudgetBytes: budget,
      extrapolated: !whole,
      wholeModel: {
        layers: L,
        forwardPairSeconds: round(wholeForwardPairSeconds),
        scoringSecondsPerLayer: round(scoringPerLayer),
        secondsPerBatch: round(wholeSeconds),
        secondsPerCase: round(wholeSeconds / cases.length),
      },
    };
  });
}

/**
 * benchAttribution (bench/attribution.ts) on a slice of layer 0 with its first `neurons` neurons
 * and the full vocabulary, as the model: the engine's u-matrix kernel, the naive projection, and
 * the bare ReduceLogSumExp / max-shift / exp-sum / LogSoftmax ceilings on the same [B, C, V] shapes.
 */
export async function benchKernel(
  x: PartContext,
  ck: Checkpoint,
  cases: readonly AnalysisCase[],
  neurons: number,
  naiveNeurons: number,
  reps: number,
  threads: number,
) {
  const { vocabSize: V } = ck.config;
  const slice = sliceModel(ck.config, ck.weights, { layers: [0], dMlp: neurons });
  const runner = new ModelRunner(`${x.name}[layer 0 x ${neurons} neurons]`, slice.config, slice.weights, {
    ...x.runnerOptions,
    weightCacheDir: null,
  });
  return x.scratch.with(runner, async () => {
    const a = await benchAttribution(
      { runner, config: slice.config, weights: slice.weights },
      {
        cases,
        uMatrixSlice: null,
        naiveSlice: { layers: [0], dMlp: naiveNeurons },
        uBudgetBytes: defaultUBudgetBytes(),
        scratchBytes: 256 * MIB,
        reps,
        minSampleSeconds: 0.5,
        intraOpThreads: threads,
        ratioTarget: null,
      },
    );
    const lse = a.kernel.ceilings.find((c) => c.op === "ReduceLogSumExp")!;
    const perEntry = (neuronCasesPerSecond: number) => round(neuronCasesPerSecond * V);
    const kernelRate =
      "kernelOnly" in a
        ? (a.kernelOnly as { neuronCasesPerSecond: number }).neuronCasesPerSecond
        : a.uMatrix.neuronCasesPerSecond;
    return {
      summary: {
        unit: "vocabulary entries (exponential-equivalents) per second",
        note: "the engine scores a neuron·case over all V entries; its rate x V is comparable to the exps/s of a bare reduction over [B, C, V]",
        engineKernelUPrecomputed: perEntry(kernelRate),
        engineWithURecompute: perEntry(
          "chunked" in a
            ? (a.chunked as { neuronCasesPerSecond: number }).neuronCasesPerSecond
            : a.uMatrix.neuronCasesPerSecond,
        ),
        reduceLogSumExpCeiling: lse.expsPerSecond,
        bestCeiling: a.kernel.expsPerSecond,
        kernelOverReduceLogSumExp: round((kernelRate * V) / lse.expsPerSecond, 3),
        naive: perEntry(a.naive.neuronCasesPerSecond),
      },
      attribution: a,
      fp32WeightBytesOfSlice: weightBytes(slice.weights),
    };
  });
}
