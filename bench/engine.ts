/**
 * The engine benchmark: head-ablation and attribution throughput, and the attribution kernel
 * against a bare ONNX reduction, on (1) the largest zoo model and (2) a GPT-2-small-shaped model
 * with random weights built in memory. One JSON object on stdout, every figure from this run.
 *
 * @example
 * ```sh
 * npm run bench -- engine                 # both models, ~10 minutes on 2 cores
 * npm run bench -- engine --quick --only zoo
 * ```
 */
import { stat } from "node:fs/promises";
import { buildCases, errorInfo, selectPairs } from "../core/index.ts";
import type { ErrorInfo } from "../core/index.ts";
import { defaultUBudgetBytes } from "../worker/analyses/index.ts";
import { loadCheckpoint, ModelRunner } from "../worker/index.ts";
import type { AnalysisCase, ModelConfig, ModelWeights } from "../worker/index.ts";
import { benchAttribution } from "./attribution.ts";
import type { AttributionPlan } from "./attribution.ts";
import { BenchModelMissingError } from "./errors.ts";
import { benchHeadAblation } from "./head-ablation.ts";
import { benchShardCases } from "./shard-cases.ts";
import type { ShardCasesFigures } from "./shard-cases.ts";
import type { HeadAblationFigures, HeadAblationPlan } from "./head-ablation.ts";
import type { Ratio } from "./figures.ts";
import { ENGINE_USAGE, parseEngineBenchArgs } from "./options.ts";
import type { EngineBenchOptions, EngineSection } from "./options.ts";
import { GPT2_SMALL, syntheticCases, syntheticGpt2Weights } from "./synthetic.ts";
import { loadAverage1m, log, machineInfo, round, seconds } from "./timing.ts";

const HEAD_TARGETS = { packedOverSingle: 10, packedOverPerHead: 1.5 };
const ATTRIBUTION_TARGET_GPT2 = 50;
const MIB = 2 ** 20;
/** The engine's own defaults, passed explicitly so the JSON records them (U's depends on the machine's memory). */
const U_BUDGET_BYTES = defaultUBudgetBytes();
const SCRATCH_BYTES = 256 * MIB;

interface ModelUnderTest {
  name: string;
  config: ModelConfig;
  weights: ModelWeights;
  source: Record<string, unknown>;
  cases: { description: string; list: AnalysisCase[] };
  heads: Omit<HeadAblationPlan, "reps" | "targets" | "minSampleSeconds">;
  attribution: Omit<AttributionPlan, "reps" | "minSampleSeconds" | "intraOpThreads">;
}

async function zooModel(o: EngineBenchOptions): Promise<ModelUnderTest> {
  const exists = await stat(o.zooDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!exists) {
    throw new BenchModelMissingError(
      o.zooDir,
      `zoo model directory ${o.zooDir} does not exist: train it with "python3 models/train.py arith-4l-d128" ` +
        `(or "npm run zoo:train"), point --zoo at another checkpoint, or run --only gpt2`,
    );
  }
  const ck = await loadCheckpoint(o.zooDir);
  const sample = o.quick ? 16 : 100;
  const cases = buildCases(selectPairs("+", 2, { sample, seed: 0 }), 4, ck.tokenizer);
  const attributionCases = cases.slice(0, o.quick ? 8 : 32);
  return {
    name: ck.dir.split("/").filter(Boolean).at(-1) ?? ck.dir,
    config: ck.config,
    weights: ck.weights,
    source: { dir: ck.dir, contentDigest: ck.digest },
    cases: { description: `2D "+" template 4, ${sample} pairs (seed 0), one case per answer token`, list: cases },
    heads: { cases, singleCases: cases.slice(0, o.quick ? 4 : 32), maxBatchRows: 256 },
    attribution: {
      cases: attributionCases,
      uMatrixSlice: null,
      naiveSlice: null,
      uBudgetBytes: U_BUDGET_BYTES,
      scratchBytes: SCRATCH_BYTES,
      ratioTarget: null,
    },
  };
}

function gpt2Model(o: EngineBenchOptions): ModelUnderTest {
  const config = GPT2_SMALL;
  const t0 = performance.now();
  const weights = syntheticGpt2Weights(config);
  const cases = syntheticCases(16, 8, config.vocabSize);
  const headCases = cases.slice(0, o.quick ? 2 : 8);
  return {
    name: "gpt2-small-synthetic",
    config,
    weights,
    source: {
      synthetic: true,
      init: "N(0, 0.02) weights, LayerNorm 1/0, biases 0, seed 2024",
      generateSeconds: round((performance.now() - t0) / 1000),
    },
    cases: { description: "16 random token sequences of length 8 with random targets (seed 7)", list: cases },
    heads: { cases: headCases, singleCases: cases.slice(0, o.quick ? 1 : 2), maxBatchRows: 256 },
    attribution: {
      cases: cases.slice(0, o.quick ? 4 : 16),
      uMatrixSlice: { layers: [0], dMlp: o.quick ? 166 : 768 },
      naiveSlice: { layers: [0], dMlp: o.quick ? 32 : 128 },
      uBudgetBytes: U_BUDGET_BYTES,
      scratchBytes: SCRATCH_BYTES,
      ratioTarget: ATTRIBUTION_TARGET_GPT2,
    },
  };
}

async function benchModel(m: ModelUnderTest, o: EngineBenchOptions) {
  const timing = { reps: o.reps, minSampleSeconds: o.quick ? 0.1 : 0.5 };
  const c = m.config;
  const shape = {
    nLayer: c.nLayer,
    nHead: c.nHead,
    dModel: c.dModel,
    dMlp: c.dMlp,
    vocabSize: c.vocabSize,
    nPositions: c.nPositions,
  };
  const lengths = m.cases.list.map((x) => x.prefixIds.length);
  log(`${m.name}: ${m.cases.list.length} cases, head ablation`);
  // One runner per part, closed after it: GPT-2 small's graph variants hold ~0.3-0.5 GB each.
  let headAblation: HeadAblationFigures;
  const sessions = { intraOpThreads: o.threads };
  const heads = new ModelRunner(m.name, m.config, m.weights, sessions);
  // single (batch 1) is also timed on one intra-op thread, often its faster setting.
  const oneThread =
    o.threads === 1 ? null : new ModelRunner(m.name, m.config, m.weights, { ...sessions, intraOpThreads: 1 });
  try {
    headAblation = await benchHeadAblation(heads, oneThread, { ...m.heads, ...timing, targets: HEAD_TARGETS });
  } finally {
    await heads.close();
    await oneThread?.close();
  }
  log(`${m.name}: attribution`);
  const runner = new ModelRunner(m.name, m.config, m.weights, sessions);
  let attribution;
  try {
    attribution = await benchAttribution(
      { runner, config: m.config, weights: m.weights },
      { ...m.attribution, ...timing, intraOpThreads: o.threads },
    );
  } finally {
    await runner.close();
  }
  return {
    model: m.name,
    source: m.source,
    shape,
    provider: "cpu",
    cases: {
      description: m.cases.description,
      count: m.cases.list.length,
      tokensMin: Math.min(...lengths),
      tokensMax: Math.max(...lengths),
    },
    headAblation,
    attribution,
  };
}

type Section = Awaited<ReturnType<typeof benchModel>> | { error: ErrorInfo };

function targetsOf(name: string, s: Section): Array<{ model: string; figure: string } & Ratio> {
  if ("error" in s) return [];
  const out: Array<{ model: string; figure: string } & Ratio> = [
    { model: name, figure: "headAblation packed/single", ...s.headAblation.ratios.packedOverSingle },
    { model: name, figure: "headAblation packed/per-head", ...s.headAblation.ratios.packedOverPerHead },
    { model: name, figure: "attribution u-matrix/naive", ...s.attribution.ratio.uMatrixOverNaive },
  ];
  return out.filter((t) => t.target !== null);
}

/** Runs the benchmark and prints its JSON; returns the exit code (1 when a section failed). */
export async function runEngineBench(argv: readonly string[]): Promise<number> {
  const o = parseEngineBenchArgs(argv);
  if (o.help) {
    process.stdout.write(`${ENGINE_USAGE}\n`);
    return 0;
  }
  const started = new Date();
  const machine = machineInfo();
  const models: Partial<Record<EngineSection, Section>> = {};
  let shardCaseFigures: ShardCasesFigures | undefined;
  const wall = await seconds(async () => {
    for (const section of o.sections) {
      try {
        const m = section === "zoo" ? await zooModel(o) : gpt2Model(o);
        models[section] = await benchModel(m, o);
        if (section === "zoo") shardCaseFigures = benchShardCases(await loadCheckpoint(o.zooDir), o.quick ? 200 : 1000);
      } catch (err) {
        // A known failure (the zoo model not trained yet, a bad input) goes into the JSON and the
        // exit code and the other section still runs; anything else is a bug and propagates.
        const info = errorInfo(err);
        if (info.code === "INTERNAL") throw err;
        log(`${section}: FAILED ${info.code}: ${info.message}`);
        models[section] = { error: info };
      }
    }
  });
  const result = {
    benchmark: "engine",
    notes: [
      "Every figure is the median of `reps` timed repetitions after a warm-up; a call shorter than minSampleSeconds is repeated within its repetition and timed per call.",
      "Rates are per second of wall time on this machine, CPU execution provider; loadAverage1m shows how busy the machine was.",
      "headAblation: each mode is timed end to end through headAblation() (its clean pass included); `cases` says how many cases each mode ran.",
      "headAblation single (a) is the paper's procedure (fp32, batch size 1, one full forward per (case, head): every layer and the logits at every position, as its Hugging Face forward computes them), on this engine, without the notebook's deep copy of the model per head; timed at the bench's threads and at 1 intra-op thread, the faster is the baseline (singleTimings has both).",
      "headAblation per-head (b): one forward per head over a batch of rows; packed (c): every head of a batch of rows in one sweep run. In both, a prompt's answer-token cases share one row and are read at their own positions; the last layer runs W_O and the MLP at the read positions only.",
      "headAblation work: floating-point operations of each mode's graphs (matrix products and attention) for the cases it ran; explanation splits each ratio into work saved per pair and FLOP/s gained.",
      "shardCases (zoo tokenizer): building the cases of every shard of a 2D cell split 10 pairs per shard, as a worker does (each shard's own pairs, earlier pairs counted once) against tokenizing the whole cell per shard; encodes counts tokenizer calls.",
      "attribution: on GPT-2 small the methods are timed on a slice (`timed`: layers x first neurons); wholeModelSecondsPerBatch scales those rates by neuron count.",
    ],
    startedAt: started.toISOString(),
    wallSeconds: round(wall),
    options: { quick: o.quick, sections: o.sections, reps: o.reps, zooDir: o.zooDir, intraOpThreads: o.threads },
    machine: { ...machine, loadAverage1mAtEnd: loadAverage1m() },
    targets: Object.entries(models).flatMap(([name, s]) => targetsOf(name, s)),
    models,
    ...(shardCaseFigures ? { shardCases: shardCaseFigures } : {}),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  return Object.values(models).some((s) => "error" in s) ? 1 : 0;
}
