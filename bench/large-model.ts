/**
 * The large-model benchmark: the engine on a synthetic Llama-3.2-1B-shaped checkpoint whose
 * random weights are written at bench time into a temp directory (removed at the end, also on
 * failure or a signal): load time with a cold and a warm float32 weight cache, peak memory
 * against the weights' float32 bytes, head ablation packed vs one forward per (case, head), CNA
 * seconds per case, and the attribution kernel against a ReduceLogSumExp ceiling. One JSON object
 * on stdout, every figure from this run.
 *
 * @example
 * ```sh
 * npm run -s bench -- large-model > large.json      # 5-10 minutes on 2 cores
 * npm run -s bench -- large-model --quick           # a tiny model of the same vocabulary: a smoke test
 * ```
 */
import { join } from "node:path";
import { buildCases, errorInfo, selectPairs } from "../core/index.ts";
import type { ErrorInfo } from "../core/index.ts";
import { weightBytes } from "../worker/index.ts";
import type { AnalysisCase, Checkpoint, RunnerOptions } from "../worker/index.ts";
import { checkpointOptions, LARGE_PRESET, prepareCheckpoint } from "./large-checkpoint.ts";
import type { PreparedCheckpoint } from "./large-checkpoint.ts";
import { LARGE_MODEL_USAGE, parseLargeModelArgs } from "./large-model-options.ts";
import type { LargeModelBenchOptions } from "./large-model-options.ts";
import { benchCnaSlice, benchKernel, benchPackedVsSingle, measureLoad } from "./large-model-parts.ts";
import type { LoadFigure, PartContext } from "./large-model-parts.ts";
import { MemorySampler } from "./memory.ts";
import type { MemoryFigures } from "./memory.ts";
import { Scratch } from "./scratch.ts";
import { loadAverage1m, log, machineInfo, round } from "./timing.ts";

/** Peak RSS over the weights' float32 bytes that the engine should stay within. */
const MEMORY_TARGET_RATIO = 2;
/** Neurons of layer 0 the attribution kernel is timed on, and of those the naive projection. */
const KERNEL_NEURONS = { full: 256, quick: 64, naive: 32 };
const ATTRIBUTION_CASES = 4;

type Part<T> = T | { error: ErrorInfo } | null;

/** Runs the benchmark and prints its JSON; returns the exit code (1 when a part failed). */
export async function runLargeModelBench(argv: readonly string[]): Promise<number> {
  const { help, ...o } = parseLargeModelArgs(argv);
  if (help) {
    process.stdout.write(`${LARGE_MODEL_USAGE}\n`);
    return 0;
  }
  const started = new Date();
  const machine = machineInfo();
  await using scratch = await Scratch.create("cna-bench-large-");
  await using memory = MemorySampler.start();
  const cacheDir = join(scratch.dir, "weight-cache");
  const runnerOptions: RunnerOptions = {
    externalWeights: "always",
    weightCacheDir: cacheDir,
    intraOpThreads: o.threads,
    ...(o.prepack ? { prepackWeights: true } : {}),
  };
  const x: PartContext = { scratch, runnerOptions, name: o.quick ? `${LARGE_PRESET}-quick` : LARGE_PRESET };
  let failed = false;
  /** A known failure (bad input, missing file) is recorded and the parts after it that need it are skipped; a bug propagates. */
  const part = async <T>(name: string, fn: () => Promise<T>): Promise<Part<T>> => {
    log(`${name}...`);
    try {
      return await memory.phase(name, fn);
    } catch (err) {
      const info = errorInfo(err);
      if (info.code === "INTERNAL") throw err;
      log(`${name}: FAILED ${info.code}: ${info.message}`);
      failed = true;
      return { error: info };
    }
  };
  const ok = <T>(p: Part<T>): p is T => p !== null && !(typeof p === "object" && "error" in p);

  const options = checkpointOptions(o);
  const prepared = await part("checkpoint", () =>
    Promise.resolve(prepareCheckpoint(o.keepDir ?? join(scratch.dir, "checkpoint"), options, o.keepDir !== null)),
  );
  let cold: Part<LoadFigure> = null;
  let warm: Part<LoadFigure> = null;
  let ck: Checkpoint | null = null;
  let cases: AnalysisCase[] = [];
  // The cases need the checkpoint's tokenizer: made once it is loaded (untimed), the same on both loads.
  const cnaCases = (c: Checkpoint) => (cases = casesFor(c, o)).slice(0, o.cnaCases);
  if (ok(prepared)) {
    cold = await part("load-cold", async () => (await measureLoad(x, prepared.dir, cacheDir, "cold", cnaCases)).figure);
    if (ok(cold)) {
      warm = await part("load-warm", async () => {
        const r = await measureLoad(x, prepared.dir, cacheDir, "warm", cnaCases);
        ck = r.checkpoint;
        return r.figure;
      });
    }
  }
  const loaded = ck as Checkpoint | null;
  const heads =
    loaded && ok(warm)
      ? await part("head-ablation", () => benchPackedVsSingle(x, loaded, cases.slice(0, o.headCases), o.singleHeads))
      : null;
  const cnaFigures =
    loaded && ok(warm)
      ? await part("cna", () =>
          benchCnaSlice(x, loaded, cases.slice(0, o.cnaCases), o.cnaLayers, warm.forwardPairSeconds),
        )
      : null;
  const enginePeak = memory.figures().maxRssBytes;
  const kernel = loaded
    ? await part("attribution-kernel", () =>
        benchKernel(
          x,
          loaded,
          cases.slice(0, ATTRIBUTION_CASES),
          o.quick ? KERNEL_NEURONS.quick : KERNEL_NEURONS.full,
          KERNEL_NEURONS.naive,
          o.reps,
          o.threads,
        ),
      )
    : null;
  await memory.stop();

  const fp32 = loaded ? weightBytes(loaded.weights) : null;
  const result = {
    benchmark: "large-model",
    notes: NOTES,
    startedAt: started.toISOString(),
    wallSeconds: round((Date.now() - started.getTime()) / 1000),
    options: {
      ...o,
      runner: {
        externalWeights: "always",
        prepackWeights: o.prepack ? true : "engine default (load.*.prepackWeights)",
        intraOpThreads: o.threads,
      },
    },
    machine: { ...machine, loadAverage1mAtEnd: loadAverage1m() },
    provider: "cpu",
    model: loaded && ok(prepared) ? modelFigures(loaded, prepared, fp32!) : prepared,
    load: { cold, warm },
    memory: fp32 === null ? null : memoryFigures(memory.figures(), fp32, enginePeak, o.quick),
    headAblation: heads,
    cna: cnaFigures,
    attributionKernel: kernel,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  return failed ? 1 : 0;
}

/** Two-digit additions in the paper's default template, tokenized by the checkpoint's own (Llama-3) tokenizer. */
function casesFor(ck: Checkpoint, o: LargeModelBenchOptions): AnalysisCase[] {
  const needed = Math.max(o.headCases, o.cnaCases, ATTRIBUTION_CASES);
  return buildCases(selectPairs("+", 2, { sample: needed, seed: 0 }), 4, ck.tokenizer).slice(0, needed);
}

function modelFigures(ck: Checkpoint, prepared: PreparedCheckpoint, fp32: number) {
  const c = ck.config;
  return {
    preset: LARGE_PRESET,
    family: c.architecture,
    shape: {
      nLayer: c.nLayer,
      dModel: c.dModel,
      nHead: c.nHead,
      nKvHead: c.nKvHead,
      dHead: c.dHead,
      dMlp: c.dMlp,
      vocabSize: c.vocabSize,
      tiedEmbeddings: c.tiedEmbeddings,
    },
    dtype: prepared.options.dtype,
    shards: prepared.options.shards,
    parameters: fp32 / 4,
    weightFileBytes: prepared.weightFileBytes,
    fp32WeightBytes: fp32,
    checkpoint: { written: prepared.written, writeSeconds: prepared.writeSeconds, kept: prepared.dir },
  };
}

/** The parts that run the engine on the model itself; the attribution-kernel part after them runs the benchmark's own graphs on slices. */
const ENGINE_PHASES = ["load-cold", "load-warm", "head-ablation", "cna"];

/**
 * The target is judged on the peak RSS when the engine parts end (maxRSS is a high-water mark, so
 * read then); quick: a model of a few MB, next to which the process's own memory dominates, is
 * not judged.
 */
function memoryFigures(m: MemoryFigures, fp32: number, enginePeak: number, quick: boolean) {
  const ratio = (bytes: number | null) => (bytes === null ? null : round(bytes / fp32, 3));
  const enginePss = m.phases
    .filter((p) => ENGINE_PHASES.includes(p.phase))
    .map((p) => p.peakPssBytes)
    .filter((v): v is number => v !== null);
  const peakPss = enginePss.length > 0 ? Math.max(...enginePss) : null;
  return {
    fp32WeightBytes: fp32,
    engine: {
      phases: ENGINE_PHASES,
      peakRssBytes: enginePeak,
      peakRssOverFp32: ratio(enginePeak),
      peakPssBytes: peakPss,
      peakPssOverFp32: ratio(peakPss),
    },
    target: {
      maxRatio: MEMORY_TARGET_RATIO,
      judgedOn: "engine.peakRssBytes",
      met: quick ? null : enginePeak <= MEMORY_TARGET_RATIO * fp32,
    },
    /** PSS counts the shared mapped weights once: a second copy would show as PSS of at least twice the weights. */
    secondFullCopy: peakPss === null || quick ? null : peakPss >= 2 * fp32,
    wholeRun: {
      peakRssBytes: m.maxRssBytes,
      peakRssOverFp32: ratio(m.maxRssBytes),
      peakPssBytes: m.peakPssBytes,
      peakPssOverFp32: ratio(m.peakPssBytes),
    },
    sampleIntervalMs: m.sampleIntervalMs,
    phases: m.phases.map((p) => ({
      ...p,
      peakRssOverFp32: ratio(p.peakRssBytes),
      peakPssOverFp32: ratio(p.peakPssBytes),
    })),
  };
}

const NOTES = [
  "The checkpoint is scripts/random-checkpoint.ts's llama-3.2-1b preset (random bf16 weights, the Llama-3 tokenizer), two shards with model.safetensors.index.json, written into a temp directory at bench time; with --layers or --quick the shape differs and the figures are not those of Llama-3.2-1B.",
  "Every runner points its graphs into the weight files (externalWeights: always, what a checkpoint this large gets anyway); the bf16 weights are read through a float32 cache file written once per checkpoint digest. load.cold starts with an empty cache, load.warm finds it. Sessions prepack the weights only with --prepack or, by the engine's default, for a model of at most 1 GiB of float32 weights (--quick): load.*.prepackWeights says which.",
  "memory: peak RSS is process.resourceUsage().maxRSS (a high-water mark: engine.peakRssBytes is read when the engine parts end, wholeRun.peakRssBytes at the end). RSS counts a page of a mapped file once per mapping, and every ONNX Runtime session maps the weights it uses itself, so two graph variants of the model alive at once count the weights twice though they share one copy; PSS (sampled from /proc/self/smaps_rollup every sampleIntervalMs) counts a shared page once. Each part closes its runners before the next. The attribution-kernel part is left out of the target: it runs the benchmark's reference graphs (ceilings, exp prototypes, the naive projection), each session with its own ONNX Runtime arena, on two slices whose weights are float32 copies of their own. The cna part's memory is that of its slice, not of the whole model.",
  "headAblation: packed runs every head (L x H) of each case in one sweep per row; single is the paper's procedure, one full forward per (case, head) at batch size 1, timed on a few heads spread over the layers (all L x H would take minutes per case). Both on the same cases; agreement compares the heads both ran. One repetition each, on a runner of its own.",
  "cna: cna() is run on a slice of the first --cna-layers layers with every neuron and the full vocabulary, U held as the whole model holds it under the default memory budget (chunked: recomputed inside every scoring call, the dominant cost); the whole model's time is extrapolated as the measured whole-model forward pair plus the slice's scoring time per layer times L (scoring is per layer and the same work in every layer). U's recompute is shared by every case of a batch (up to 32), so seconds per case fall as batches grow.",
  "attributionKernel: bench/attribution.ts on a slice of layer 0 with its first neurons and the full vocabulary, as the model (its own forward gives the activations); summary gives rates in vocabulary entries per second (neuron·cases/s x V) next to ONNX Runtime's bare ReduceLogSumExp over [B, C, V].",
  "CPU execution provider; rates are per second of wall time on this machine, whose load (loadAverage1m) skews them.",
];
