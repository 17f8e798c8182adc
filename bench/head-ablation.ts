/**
 * Head-ablation throughput of the engine's three modes, in (case·head) pairs per second, each
 * timed end to end through `headAblation` (clean pass included, as a user would run it).
 *
 * (a) single is the paper's procedure (docs/method.md §2: fp32, batch size 1, one full
 * Hugging Face forward per (case, head) with the head's W_O columns zeroed): every layer and the
 * logits at every position, one case and one head per forward, the last position read. It runs
 * on the same engine as the other modes (fused GELU and all) and leaves out what the notebook
 * does besides (a deep copy of the model per head, hooks). It is timed at the bench's thread
 * count and at one intra-op thread, and the faster is the baseline: a batch-1 forward of a small
 * model gains nothing from more threads but their synchronisation.
 * (b) per-head: one forward per head over a batch of rows (answer tokens of a prompt share a row).
 * (c) packed: every head of a batch of rows in one run of the sweep graph.
 *
 * The modes' repetitions are interleaved so a change in background load during the run hits all
 * of them alike. `work` counts the floating-point operations each mode's graphs perform (matrix
 * products and attention; elementwise work left out) from the actual cases and batches, so a
 * ratio splits into work saved and speed (FLOP/s) gained.
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
  /** Work per call: the graphs' floating-point operations, in GFLOP, and per pair in MFLOP. */
  gflop: number;
  mflopPerPair: number;
  gflopPerSecond: number;
}

export interface HeadAblationFigures {
  unit: "(case·head)/s";
  heads: number;
  maxBatchRows: number;
  /** (a) the baseline: the faster of the single timings below. */
  single: ModeFigure & { intraOpThreads: "bench" | 1 };
  singleTimings: { benchThreads: ModeFigure; oneThread: ModeFigure | null };
  perHead: ModeFigure;
  packed: ModeFigure;
  ratios: { packedOverSingle: Ratio; packedOverPerHead: Ratio };
  /** packed against per-head (same cases) and against single (single's cases): largest |difference| of mean P(correct) over heads, and of correct counts. */
  agreement: { perHead: Agreement; single: Agreement };
  /** ratio = work per pair saved x FLOP/s gained. */
  explanation: {
    packedOverSingle: { workSaved: number; speedGained: number };
    packedOverPerHead: { workSaved: number; speedGained: number };
  };
}

interface Agreement {
  maxMeanProbDiff: number;
  maxCorrectDiff: number;
}

interface ModeRun {
  key: "singleBench" | "singleOne" | "perHead" | "packed";
  mode: HeadAblationMode;
  runner: ModelRunner;
  cases: readonly AnalysisCase[];
}

/** `oneThread`: a runner of the same model with one intra-op thread, for single's second timing (null: the bench already runs one). */
export async function benchHeadAblation(
  runner: ModelRunner,
  oneThread: ModelRunner | null,
  plan: HeadAblationPlan,
): Promise<HeadAblationFigures> {
  const { nLayer: L, nHead: H } = runner.shape;
  const modes: ModeRun[] = [
    { key: "singleBench", mode: "single", runner, cases: plan.singleCases },
    ...(oneThread
      ? [{ key: "singleOne" as const, mode: "single" as const, runner: oneThread, cases: plan.singleCases }]
      : []),
    { key: "perHead", mode: "per-head", runner, cases: plan.cases },
    { key: "packed", mode: "packed", runner, cases: plan.cases },
  ];
  const run = (m: ModeRun, cases: readonly AnalysisCase[]) =>
    headAblation(m.runner, cases, { mode: m.mode, maxBatchRows: plan.maxBatchRows });

  // Warm-ups build each mode's graphs and sessions on one case (for single, one forward).
  const last: Partial<Record<ModeRun["key"], HeadAblationPartial>> = {};
  const timings = await timeInterleaved(
    modes.map((m) => ({
      label: `${runner.name} head ablation ${m.mode}${m.key === "singleOne" ? " (1 thread)" : ""} (${m.cases.length} cases)`,
      run: async () => (last[m.key] = await run(m, m.cases)),
      warmup:
        m.mode === "single"
          ? () => m.runner.forward({ sequences: [m.cases[0]!.prefixIds], outputs: ["logits_all"] })
          : () => run(m, m.cases.slice(0, 1)),
    })),
    plan,
  );
  const figure = (key: ModeRun["key"]): ModeFigure => {
    const i = modes.findIndex((m) => m.key === key);
    const t = timings[i]!;
    const m = modes[i]!;
    const pairs = m.cases.length * L * H;
    const flop = work(runner.shape, m.mode, m.cases, plan.maxBatchRows);
    return {
      cases: m.cases.length,
      pairs,
      medianSeconds: round(t.medianSeconds),
      timesSeconds: t.timesSeconds.map((x) => round(x)),
      callsPerRep: t.callsPerRep,
      warmupSeconds: round(t.warmupSeconds),
      pairsPerSecond: round(pairs / t.medianSeconds),
      gflop: round(flop / 1e9),
      mflopPerPair: round(flop / pairs / 1e6),
      gflopPerSecond: round(flop / t.medianSeconds / 1e9),
    };
  };
  const benchThreads = figure("singleBench");
  const one = oneThread ? figure("singleOne") : null;
  const single =
    one && one.pairsPerSecond > benchThreads.pairsPerSecond
      ? { ...one, intraOpThreads: 1 as const }
      : { ...benchThreads, intraOpThreads: "bench" as const };
  const [perHead, packed] = [figure("perHead"), figure("packed")];
  const packedOnSingleCases = await headAblation(runner, plan.singleCases, {
    mode: "packed",
    maxBatchRows: plan.maxBatchRows,
  });
  const split = (a: ModeFigure, b: ModeFigure) => ({
    workSaved: round(b.mflopPerPair / a.mflopPerPair, 3),
    speedGained: round(a.gflopPerSecond / b.gflopPerSecond, 3),
  });
  return {
    unit: "(case·head)/s",
    heads: L * H,
    maxBatchRows: plan.maxBatchRows,
    single,
    singleTimings: { benchThreads, oneThread: one },
    perHead,
    packed,
    ratios: {
      packedOverSingle: ratio(packed.pairsPerSecond / single.pairsPerSecond, plan.targets.packedOverSingle),
      packedOverPerHead: ratio(packed.pairsPerSecond / perHead.pairsPerSecond, plan.targets.packedOverPerHead),
    },
    agreement: {
      perHead: agreement(last["perHead"]!, last["packed"]!),
      single: agreement(last[single.intraOpThreads === 1 ? "singleOne" : "singleBench"]!, packedOnSingleCases),
    },
    explanation: { packedOverSingle: split(packed, single), packedOverPerHead: split(packed, perHead) },
  };
}

function agreement(a: HeadAblationPartial, b: HeadAblationPartial): Agreement {
  let prob = 0;
  let correct = 0;
  a.probSum.forEach((p, i) => {
    prob = Math.max(prob, Math.abs(p - b.probSum[i]!) / a.cases);
    correct = Math.max(correct, Math.abs(a.correct[i]! - b.correct[i]!));
  });
  return { maxMeanProbDiff: prob, maxCorrectDiff: correct };
}

interface Shape {
  nLayer: number;
  nHead: number;
  dModel: number;
  dMlp: number;
  vocabSize: number;
}

/**
 * Floating-point operations of one headAblation call, as its graphs do them: a multiply-add is
 * two. Per token and layer: QKV 6D², attention 4TD (scores and mix over T keys), W_O 2D²,
 * MLP 4DF; per read 2DV for the logits. Rows and batches are formed as the engine forms them
 * (worker/analyses/head-ablation.ts): a row per longest prompt, its prefixes read from it, rows
 * in the order of their first case and then by length, split evenly under maxBatchRows
 * (maxBatchRows / (1 + L H) rows per sweep), padded to the batch's longest row and most reads.
 */
function work(s: Shape, mode: HeadAblationMode, cases: readonly AnalysisCase[], maxBatchRows: number): number {
  const { nLayer: L, nHead: H, dModel: D, dMlp: F, vocabSize: V } = s;
  const attention = (T: number) => 6 * D * D + 4 * T * D; // per token, keys at T positions
  const rest = 2 * D * D + 4 * D * F; // W_O and MLP per token
  const logits = 2 * D * V;
  if (mode === "single") {
    // (L H + 1) full forwards per case, logits at every position.
    return cases.reduce((sum, c) => {
      const T = c.prefixIds.length;
      return sum + (L * H + 1) * (L * T * (attention(T) + rest) + T * logits);
    }, 0);
  }
  const rows = rowsOf(cases).sort((a, b) => a.length - b.length);
  const size = mode === "packed" ? Math.max(1, Math.floor(maxBatchRows / (1 + L * H))) : maxBatchRows;
  const n = Math.ceil(rows.length / size);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const batch = rows.slice(Math.floor((i * rows.length) / n), Math.floor(((i + 1) * rows.length) / n));
    const B = batch.length;
    const T = Math.max(...batch.map((r) => r.length));
    const R = Math.max(...batch.map((r) => r.reads));
    if (mode === "per-head") {
      // L H + 1 forwards: attention at every position in every layer, W_O and MLP too except in
      // the last layer, which runs them and the logits at the reads only.
      total += (L * H + 1) * B * (L * T * attention(T) + (L - 1) * T * rest + R * (rest + logits));
    } else {
      // Before layer l's ablations join, the sweep holds B (1 + H l) rows; after, B H more.
      for (let l = 0; l < L; l++) {
        const before = B * (1 + H * l);
        total += before * T * attention(T) + (before + B * H) * (l < L - 1 ? T : R) * rest;
      }
      total += B * (1 + L * H) * R * logits;
    }
  }
  return total;
}

/** The engine's rows: one per case that is no other case's proper prefix, with the cases read from it. */
function rowsOf(cases: readonly AnalysisCase[]): Array<{ length: number; reads: number }> {
  const key = (ids: readonly number[]) => ids.join(",");
  const seqs = [...new Map(cases.map((c) => [key(c.prefixIds), c.prefixIds])).values()];
  const isPrefix = (a: readonly number[], b: readonly number[]) =>
    a.length <= b.length && a.every((t, i) => t === b[i]);
  const longest = seqs.filter((s) => !seqs.some((o) => o.length > s.length && isPrefix(s, o)));
  // A case goes to the longest row that extends it (the first such in the engine's order; only the count matters here).
  const reads = new Map<string, number>();
  for (const c of cases) {
    const row = longest.filter((r) => isPrefix(c.prefixIds, r)).sort((a, b) => b.length - a.length)[0]!;
    reads.set(key(row), (reads.get(key(row)) ?? 0) + 1);
  }
  const first = new Map<string, number>();
  cases.forEach((c, i) => {
    const row = longest.filter((r) => isPrefix(c.prefixIds, r)).sort((a, b) => b.length - a.length)[0]!;
    if (!first.has(key(row))) first.set(key(row), i);
  });
  return longest
    .sort((a, b) => first.get(key(a))! - first.get(key(b))!)
    .map((r) => ({ length: r.length, reads: reads.get(key(r))! }));
}
