/**
 * rankings.json as tidy tables, one per kind of item (`cna rankings --kind`): one row per head,
 * neuron, verification point or cell, and every row carries its cell's key (model, op, digits,
 * template), so the rows of many cells stack into one data frame. The values are the rankings'
 * own numbers, unrounded; only the table format rounds them for display.
 */
import { headName, neuronName } from "../core/index.ts";
import type { CellRankings, Rankings, TopTokensSign, VerificationPoint } from "../core/index.ts";

export const ROW_KINDS = ["summary", "heads", "neurons", "attribution", "verification"] as const;
export type RowKind = (typeof ROW_KINDS)[number];

/** A cell of a row: absent values are null (an empty CSV field); top tokens stay a list. */
export type RowValue = string | number | null | readonly string[];
export type Row = Record<string, RowValue>;

/** How the table format shows a column (CSV and JSONL always carry the raw value). */
export type Display = "text" | "int" | "pct" | "num" | "tokens";

export interface Column {
  /** the CSV header and JSONL key */
  name: string;
  /** the table format's header, shorter where the name is long */
  label: string;
  display: Display;
  /** false: in CSV and JSONL only, to keep the table format within a terminal's width */
  inTable: boolean;
}

export interface RowTable {
  kind: RowKind;
  columns: readonly Column[];
  rows: Row[];
}

const col = (name: string, display: Display, label = name): Column => ({ name, label, display, inTable: true });
/** A column the table format leaves out (it repeats another, or is wide and secondary). */
const wide = (c: Column): Column => ({ ...c, inTable: false });

/** A top head that is no finding (its cell's headRankingBasis is not "accuracy"); the table marks it "*". */
export const notAFinding = (basis: RowValue): boolean => basis !== null && basis !== "accuracy";

const KEY_COLUMNS: readonly Column[] = [
  col("model", "text"),
  col("op", "text"),
  col("digits", "int", "D"),
  col("template", "int", "t"),
];

const COLUMNS: Record<RowKind, readonly Column[]> = {
  summary: [
    ...KEY_COLUMNS,
    wide(col("cases", "int")),
    col("baselineAccuracy", "pct", "base"),
    col("topHead", "text", "head"),
    col("topHeadRelativeDrop", "pct", "drop"),
    wide(col("headBasis", "text", "basis")),
    wide(col("ablatedHead", "text", "ablated")),
    col("topNeuron", "text", "neuron"),
    wide(col("topNeuronCna", "num", "CNA")),
    col("verifyK", "int", "K"),
    col("maskDecrease", "pct", "mask"),
    wide(col("keepDecrease", "pct", "keep")),
    col("randomDecrease", "pct", "random"),
  ],
  heads: [
    ...KEY_COLUMNS,
    col("rank", "int"),
    wide(col("layer", "int")),
    wide(col("head", "int")),
    col("name", "text", "head"),
    col("accuracy", "pct"),
    col("accuracyDrop", "pct", "drop"),
    col("relativeDrop", "pct", "rel. drop"),
    col("meanProbCorrect", "num", "p(correct)"),
    wide(col("baselineAccuracy", "pct", "baseline")),
    wide(col("headBasis", "text", "basis")),
  ],
  neurons: [
    ...KEY_COLUMNS,
    wide(col("ablatedHead", "text", "ablated")),
    col("rank", "int"),
    wide(col("layer", "int")),
    wide(col("neuron", "int")),
    col("name", "text", "neuron"),
    col("cnaMean", "num", "CNA"),
    col("impOrigMean", "num", "Imp orig"),
    col("impAblatedMean", "num", "Imp abl."),
    col("coefOrigMean", "num", "m"),
    col("coefAblatedMean", "num", "m'"),
    wide(col("coefDeltaMean", "num", "m-m'")),
    col("topKCount", "int", "top-K"),
    col("sigma", "int", "σ"),
    col("topTokens", "tokens", "writes"),
  ],
  attribution: [
    ...KEY_COLUMNS,
    col("rank", "int"),
    wide(col("layer", "int")),
    wide(col("neuron", "int")),
    col("name", "text", "neuron"),
    col("impMean", "num", "Imp"),
    col("coefMean", "num", "m"),
    col("topKCount", "int", "top-K"),
    col("sigma", "int", "σ"),
    col("topTokens", "tokens", "writes"),
  ],
  verification: [
    ...KEY_COLUMNS,
    col("ablatedHead", "text", "ablated"),
    wide(col("seed", "int")),
    col("k", "int", "K"),
    col("condition", "text"),
    col("accuracy", "pct"),
    col("relativeDecrease", "pct", "decrease"),
  ],
};

/** K the summary compares mask and random at: 10, or the nearest K the sweep ran (the smaller on a tie). */
export const SUMMARY_K = 10;

const keyOf = (c: CellRankings): Row => ({ model: c.model, op: c.op, digits: c.digits, template: c.template });
const sigma = (s: TopTokensSign | undefined): number | null => s ?? null;
const tokens = (t: readonly string[] | undefined): readonly string[] | null => t ?? null;

/** The point of `points` nearest K = {@link SUMMARY_K}. */
export function nearestK(points: readonly VerificationPoint[]): number | null {
  let best: number | null = null;
  for (const p of points) if (best === null || Math.abs(p.k - SUMMARY_K) < Math.abs(best - SUMMARY_K)) best = p.k;
  return best;
}

function summaryRow(c: CellRankings): Row {
  const top = c.heads?.[0];
  const neuron = c.neurons?.[0] ?? c.attribution?.neurons[0];
  const v = c.verification;
  const k = v ? nearestK(v.mask) : null;
  const at = (points: readonly VerificationPoint[] | undefined) =>
    points?.find((p) => p.k === k)?.relativeDecrease ?? null;
  return {
    ...keyOf(c),
    cases: c.cases,
    baselineAccuracy: c.baselineAccuracy,
    topHead: top ? headName(top) : null,
    topHeadRelativeDrop: top ? top.relativeDrop : null,
    headBasis: c.headRankingBasis ?? null,
    ablatedHead: c.ablatedHead ? headName(c.ablatedHead) : null,
    topNeuron: neuron ? neuronName(neuron) : null,
    topNeuronCna: c.neurons?.[0]?.cnaMean ?? null,
    verifyK: k,
    maskDecrease: at(v?.mask),
    keepDecrease: at(v?.keep),
    randomDecrease: at(v?.random),
  };
}

function cellRows(c: CellRankings, kind: Exclude<RowKind, "summary">, top: number): Row[] {
  const key = keyOf(c);
  const ablated = c.ablatedHead ? headName(c.ablatedHead) : null;
  switch (kind) {
    case "heads":
      return (c.heads ?? []).slice(0, top).map((h, i) => ({
        ...key,
        rank: i + 1,
        layer: h.layer,
        head: h.head,
        name: headName(h),
        accuracy: h.accuracy,
        accuracyDrop: h.accuracyDrop,
        relativeDrop: h.relativeDrop,
        meanProbCorrect: h.meanProbCorrect,
        baselineAccuracy: c.baselineAccuracy,
        headBasis: c.headRankingBasis ?? null,
      }));
    case "neurons":
      return (c.neurons ?? []).slice(0, top).map((n, i) => ({
        ...key,
        ablatedHead: ablated,
        rank: i + 1,
        layer: n.layer,
        neuron: n.neuron,
        name: neuronName(n),
        cnaMean: n.cnaMean,
        impOrigMean: n.impOrigMean,
        impAblatedMean: n.impAblatedMean,
        coefOrigMean: n.coefOrigMean,
        coefAblatedMean: n.coefAblatedMean,
        coefDeltaMean: n.coefDeltaMean,
        topKCount: n.topKCount,
        sigma: sigma(n.topTokensSign),
        topTokens: tokens(n.topTokens),
      }));
    case "attribution":
      return (c.attribution?.neurons ?? []).slice(0, top).map((n, i) => ({
        ...key,
        rank: i + 1,
        layer: n.layer,
        neuron: n.neuron,
        name: neuronName(n),
        impMean: n.impMean,
        coefMean: n.coefMean,
        topKCount: n.topKCount,
        sigma: sigma(n.topTokensSign),
        topTokens: tokens(n.topTokens),
      }));
    case "verification": {
      const v = c.verification;
      if (!v) return [];
      const conditions = [
        ["mask", v.mask],
        ["keep", v.keep],
        ["random", v.random],
      ] as const;
      // K by K, each K's three conditions together: the comparison the method makes (docs/method.md §5)
      return v.mask.flatMap((m, i) =>
        conditions.map(([condition, points]) => ({
          ...key,
          ablatedHead: ablated,
          seed: v.seed,
          k: m.k,
          condition,
          accuracy: points[i]!.accuracy,
          relativeDecrease: points[i]!.relativeDecrease,
        })),
      );
    }
  }
}

/** The rows of one kind for every cell, in the rankings' cell order; `top` bounds the ranked items per cell. */
export function rankingsRows(r: Rankings, kind: RowKind, top = Infinity): RowTable {
  const rows = kind === "summary" ? r.cells.map(summaryRow) : r.cells.flatMap((c) => cellRows(c, kind, top));
  return { kind, columns: COLUMNS[kind], rows };
}
