/**
 * Head ablation (METHOD.md section 2): every head of the model, one at a time, over a cell's
 * cases; accuracy and mean probability of the true answer with the head removed.
 *
 * Three execution modes compute the same numbers:
 * - "packed" (default): every single-head ablation of a batch of rows in one run of the sweep
 *   graph: the clean rows run once, and the rows ablating a head of layer l start from the clean
 *   rows' residual and value mix at l, so layers < l and layer l's attention never run again.
 * - "per-head": one forward per head over a batch of rows.
 * - "single": the paper's procedure, one full forward per (case, head) at batch size 1 that
 *   computes every layer and the logits at every position, as its Hugging Face forward does;
 *   the last position's row is read (oracle and baseline).
 * In packed and per-head a row carries every case whose prompt is a prefix of its sequence (the
 * teacher-forced answer tokens of one prompt), each read at its own last position: causal
 * attention makes that read see exactly the case's tokens.
 */
import type { HeadAblationPartial } from "../../core/index.ts";
import type { ModelRunner, ReadoutResult } from "../onnx/runner.ts";
import { argmax, checkCases, headMask, row, softmaxAt } from "./common.ts";
import type { AnalysisCase, Progress } from "./common.ts";

export type HeadAblationMode = "packed" | "per-head" | "single";

export interface HeadAblationOptions {
  mode?: HeadAblationMode;
  /**
   * Rows per forward pass (default 256); batches are split evenly under it. In packed mode it
   * bounds the rows ablating one layer's heads, so a run holds up to (1 + L H) / H times as many.
   */
  maxBatchRows?: number;
  onProgress?: Progress;
}

interface Tally {
  correct: number[];
  probSum: number[];
}

/** A token sequence and the cases read from it (at their own last positions), in case order. */
interface Row {
  ids: readonly number[];
  cases: Array<{ c: AnalysisCase; order: number }>;
}

export async function headAblation(runner: ModelRunner, cases: readonly AnalysisCase[], options: HeadAblationOptions = {}): Promise<HeadAblationPartial> {
  const shape = runner.shape;
  checkCases(cases, shape);
  const { nLayer: L, nHead: H, dMlp: F } = shape;
  const maxRows = options.maxBatchRows ?? 256;
  const mode = options.mode ?? "packed";
  const tally: Tally = { correct: new Array(L * H).fill(0), probSum: new Array(L * H).fill(0) };
  const partial: HeadAblationPartial = {
    kind: "head-ablation", dims: { nLayer: L, nHead: H, dMlp: F }, cases: cases.length,
    baselineCorrect: 0, baselineProbSum: 0, correct: tally.correct, probSum: tally.probSum,
  };
  const total = cases.length * L * H;
  let done = 0;
  const progress = (n: number) => options.onProgress?.((done += n), total);
  const baseline = (c: AnalysisCase, top1: number, prob: number) => {
    if (top1 === c.target) partial.baselineCorrect++;
    partial.baselineProbSum += prob;
  };

  if (mode === "single") {
    for (const c of cases) {
      const clean = await paperForward(runner, c, null);
      baseline(c, clean.top1, clean.prob);
      for (let slot = 0; slot < L * H; slot++) {
        const out = await paperForward(runner, c, { layer: Math.floor(slot / H), head: slot % H });
        count(tally, slot, c, out.top1, out.prob);
        progress(1);
      }
    }
    return partial;
  }
  const rows = carriers(cases);
  for (const batch of evenChunks(rows, mode === "packed" ? Math.max(1, Math.floor(maxRows / H)) : maxRows)) {
    const reads = inCaseOrder(batch);
    const request = { sequences: batch.map((r) => r.ids), reads: batch.map((r) => r.cases.map(({ c }) => ({ index: c.prefixIds.length - 1, target: c.target }))) };
    if (mode === "packed") {
      const out = await runner.readout({ ...request, sweep: true });
      // Row b's ablation of (l, h) is row B + (l B + b) H + h of the sweep.
      const at = (b: number, i: number, slot: number) => (batch.length + (Math.floor(slot / H) * batch.length + b) * H + (slot % H)) * out.reads + i;
      for (const { c, b, i } of reads) {
        baseline(c, out.top1[b * out.reads + i]!, out.targetProb[b * out.reads + i]!);
        for (let slot = 0; slot < L * H; slot++) count(tally, slot, c, out.top1[at(b, i, slot)]!, out.targetProb[at(b, i, slot)]!);
      }
    } else {
      const clean = await runner.readout(request);
      for (const { c, b, i } of reads) baseline(c, clean.top1[b * clean.reads + i]!, clean.targetProb[b * clean.reads + i]!);
      for (let slot = 0; slot < L * H; slot++) {
        const ablate = { layer: Math.floor(slot / H), head: slot % H };
        const out: ReadoutResult = await runner.readout({ ...request, headMask: headMask(shape, batch.map(() => ablate)) });
        for (const { c, b, i } of reads) count(tally, slot, c, out.top1[b * out.reads + i]!, out.targetProb[b * out.reads + i]!);
      }
    }
    progress(reads.length * L * H);
  }
  return partial;
}

function count(tally: Tally, slot: number, c: AnalysisCase, top1: number, prob: number): void {
  if (top1 === c.target) tally.correct[slot]!++;
  tally.probSum[slot] = tally.probSum[slot]! + prob;
}

/** A full forward of one case at batch size 1, logits at every position; top-1 and P(target) at the last. */
async function paperForward(runner: ModelRunner, c: AnalysisCase, ablate: { layer: number; head: number } | null): Promise<{ top1: number; prob: number }> {
  const V = runner.shape.vocabSize;
  const out = await runner.forward({ sequences: [c.prefixIds], outputs: ["logits_all"], headMask: headMask(runner.shape, [ablate]) });
  const logits = row(out.outputs.logits_all!, c.prefixIds.length - 1, V);
  return { top1: argmax(logits), prob: softmaxAt(logits, c.target) };
}

/**
 * Groups cases into rows: each case joins the longest case whose prompt extends its own (a trie
 * over token ids, longest prompts first). Rows come in the order of their first case.
 */
function carriers(cases: readonly AnalysisCase[]): Row[] {
  interface Node { next: Map<number, Node>; row: Row | null }
  const root: Node = { next: new Map(), row: null };
  const rows: Array<{ first: number; row: Row }> = [];
  const byLength = cases.map((c, order) => ({ c, order })).sort((a, b) => b.c.prefixIds.length - a.c.prefixIds.length || a.order - b.order);
  for (const entry of byLength) {
    let node = root;
    for (const tok of entry.c.prefixIds) {
      let child = node.next.get(tok);
      if (!child) node.next.set(tok, (child = { next: new Map(), row: null }));
      node = child;
    }
    if (node.row === null) {
      // A new row: every prefix of its sequence that no row passes through yet now reads from it.
      const row: Row = { ids: entry.c.prefixIds, cases: [] };
      rows.push({ first: entry.order, row });
      node = root;
      for (const tok of entry.c.prefixIds) {
        node = node.next.get(tok)!;
        node.row ??= row;
      }
    }
    node.row!.cases.push(entry);
  }
  for (const { row } of rows) row.cases.sort((a, b) => a.order - b.order);
  for (const r of rows) r.first = r.row.cases[0]!.order;
  return rows.sort((a, b) => a.first - b.first).map((r) => r.row);
}

/** The batch's cases in case order, with their row and read index: results are summed in this order. */
function inCaseOrder(batch: readonly Row[]): Array<{ c: AnalysisCase; order: number; b: number; i: number }> {
  return batch.flatMap((r, b) => r.cases.map((e, i) => ({ ...e, b, i }))).sort((x, y) => x.order - y.order);
}

/** Splits items into the fewest chunks of at most `max`, of sizes differing by at most one (no runt batch). */
function evenChunks<T>(items: readonly T[], max: number): T[][] {
  const n = Math.ceil(items.length / max);
  return Array.from({ length: n }, (_, i) => items.slice(Math.floor((i * items.length) / n), Math.floor(((i + 1) * items.length) / n)));
}
