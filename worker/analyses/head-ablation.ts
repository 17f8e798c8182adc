/**
 * Head ablation (docs/method.md §2): every head of the model, one at a time, over a cell's
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
import type { ModelConfig } from "../model/config.ts";
import type { ModelRunner, ReadoutResult } from "../onnx/runner.ts";
import { argmax, checkCases, headMask, row, softmaxAt } from "./common.ts";
import type { AnalysisCase, Progress } from "./common.ts";
import type { HeadRef } from "../../core/index.ts";

export type HeadAblationMode = "packed" | "per-head" | "single";

export interface HeadAblationOptions {
  mode?: HeadAblationMode;
  /**
   * Rows per forward pass (default 256); batches are split evenly under it. A packed run of B
   * rows grows to B (1 + L H) rows by its last layer, so it takes maxBatchRows / (1 + L H) rows
   * (at least one).
   */
  maxBatchRows?: number;
  onProgress?: Progress;
}

/** A token sequence and the cases read from it (at their own last positions), in case order. */
interface Row {
  ids: readonly number[];
  cases: Array<{ c: AnalysisCase; order: number }>;
}

export async function headAblation(
  runner: ModelRunner,
  cases: readonly AnalysisCase[],
  options: HeadAblationOptions = {},
): Promise<HeadAblationPartial> {
  const shape = runner.shape;
  checkCases(cases, shape);
  const { nLayer: L, nHead: H } = shape;
  const maxRows = options.maxBatchRows ?? 256;
  const mode = options.mode ?? "packed";
  const results = new CaseResults(cases, L * H);
  const total = cases.length * L * H;
  let done = 0;
  const progress = (n: number) => options.onProgress?.((done += n), total);

  if (mode === "single") {
    for (const [order, c] of cases.entries()) {
      for (let slot = -1; slot < L * H; slot++) {
        const out = await paperForward(runner, c, slot < 0 ? null : { layer: Math.floor(slot / H), head: slot % H });
        results.set(order, slot, out.top1, out.prob);
      }
      progress(L * H);
    }
    return results.partial(shape);
  }
  // Rows of one length batch together (no padding wasted); results do not depend on the batching.
  const rows = carriers(cases).sort((a, b) => a.ids.length - b.ids.length);
  for (const batch of evenChunks(rows, mode === "packed" ? Math.max(1, Math.floor(maxRows / (1 + L * H))) : maxRows)) {
    const reads = batch.flatMap((r, b) => r.cases.map(({ order }, i) => ({ order, b, i })));
    const request = {
      sequences: batch.map((r) => r.ids),
      reads: batch.map((r) => r.cases.map(({ c }) => ({ index: c.prefixIds.length - 1, target: c.target }))),
    };
    const keep = (out: ReadoutResult, slot: number, row: (b: number) => number) => {
      for (const { order, b, i } of reads)
        results.set(order, slot, out.top1[row(b) * out.reads + i]!, out.targetProb[row(b) * out.reads + i]!);
    };
    if (mode === "packed") {
      const out = await runner.readout({ ...request, sweep: true });
      keep(out, -1, (b) => b);
      // Row b's ablation of (l, h) is row B + (l B + b) H + h of the sweep.
      for (let slot = 0; slot < L * H; slot++)
        keep(out, slot, (b) => batch.length + (Math.floor(slot / H) * batch.length + b) * H + (slot % H));
    } else {
      keep(await runner.readout(request), -1, (b) => b);
      for (let slot = 0; slot < L * H; slot++) {
        const ablate = { layer: Math.floor(slot / H), head: slot % H };
        keep(
          await runner.readout({
            ...request,
            headMask: headMask(
              shape,
              batch.map(() => ablate),
            ),
          }),
          slot,
          (b) => b,
        );
      }
    }
    progress(reads.length * L * H);
  }
  return results.partial(shape);
}

/**
 * Top-1 and P(target) of every case, clean (slot -1) and per head slot (layer * H + head). The
 * sums are taken in case order at the end, so they are the same bits however the cases were
 * batched.
 */
class CaseResults {
  private readonly prob: Float64Array;
  private readonly correct: Uint8Array;

  constructor(
    private readonly cases: readonly AnalysisCase[],
    private readonly slots: number,
  ) {
    this.prob = new Float64Array(cases.length * (slots + 1));
    this.correct = new Uint8Array(cases.length * (slots + 1));
  }

  set(order: number, slot: number, top1: number, prob: number): void {
    const at = order * (this.slots + 1) + slot + 1;
    this.prob[at] = prob;
    this.correct[at] = top1 === this.cases[order]!.target ? 1 : 0;
  }

  partial(shape: ModelConfig): HeadAblationPartial {
    const p: HeadAblationPartial = {
      kind: "head-ablation",
      dims: { nLayer: shape.nLayer, nHead: shape.nHead, dMlp: shape.dMlp },
      cases: this.cases.length,
      baselineCorrect: 0,
      baselineProbSum: 0,
      correct: new Array<number>(this.slots).fill(0),
      probSum: new Array<number>(this.slots).fill(0),
    };
    for (let order = 0; order < this.cases.length; order++) {
      const base = order * (this.slots + 1);
      p.baselineCorrect += this.correct[base]!;
      p.baselineProbSum += this.prob[base]!;
      for (let slot = 0; slot < this.slots; slot++) {
        p.correct[slot] = p.correct[slot]! + this.correct[base + slot + 1]!;
        p.probSum[slot] = p.probSum[slot]! + this.prob[base + slot + 1]!;
      }
    }
    return p;
  }
}

/**
 * A full forward of one case at batch size 1, logits at every position; top-1 and P(target) at
 * the last: one (case, head) pair of the "single" mode (ablate null: the clean forward).
 */
export async function paperForward(
  runner: ModelRunner,
  c: AnalysisCase,
  ablate: HeadRef | null,
): Promise<{ top1: number; prob: number }> {
  const V = runner.shape.vocabSize;
  const out = await runner.forward({
    sequences: [c.prefixIds],
    outputs: ["logits_all"],
    headMask: headMask(runner.shape, [ablate]),
  });
  const logits = row(out.outputs.logits_all!, c.prefixIds.length - 1, V);
  return { top1: argmax(logits), prob: softmaxAt(logits, c.target) };
}

/**
 * Groups cases into rows: each case joins the longest case whose prompt extends its own (a trie
 * over token ids, longest prompts first). Rows come in the order of their first case.
 */
function carriers(cases: readonly AnalysisCase[]): Row[] {
  interface Node {
    next: Map<number, Node>;
    row: Row | null;
  }
  const root: Node = { next: new Map(), row: null };
  const rows: Array<{ first: number; row: Row }> = [];
  const byLength = cases
    .map((c, order) => ({ c, order }))
    .sort((a, b) => b.c.prefixIds.length - a.c.prefixIds.length || a.order - b.order);
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

/** Splits items into the fewest chunks of at most `max`, of sizes differing by at most one (no runt batch). */
function evenChunks<T>(items: readonly T[], max: number): T[][] {
  const n = Math.ceil(items.length / max);
  return Array.from({ length: n }, (_, i) =>
    items.slice(Math.floor((i * items.length) / n), Math.floor(((i + 1) * items.length) / n)),
  );
}
