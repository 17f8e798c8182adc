/**
 * Rankings as aligned text tables (for `cna demo`, `cna run` and `cna rankings --format table`)
 * and as CSV (`--format csv`): one row per head or neuron, with the cell's key columns.
 */
import { NOISE_CASES, RANKINGS_SCHEMA, headName, neuronName } from "../core/index.ts";
import type { CellRankings, Rankings, TopTokensSign } from "../core/index.ts";

export function table(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  rightAlign: ReadonlySet<number> = new Set(),
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (rightAlign.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "─".repeat(w))), ...rows.map(line)].join("\n");
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const num = (x: number, digits = 3) => x.toFixed(digits);
/** σ of a neuron's top tokens ("" where the tokens were not filled). */
const signText = (sign: TopTokensSign | undefined) => (sign === undefined ? "" : sign < 0 ? "-1" : "+1");

export function cellTitle(c: CellRankings): string {
  return `${c.model}  ${c.op}  ${c.digits}D  template ${c.template}  (${c.cases} cases, baseline accuracy ${pct(c.baselineAccuracy)})`;
}

/** One line per cell whose top head is no finding (rankings' headRankingBasis), to print after a sweep. */
export function cautionLines(r: Rankings): string[] {
  return r.cells.flatMap((c) => {
    const top = c.heads?.[0];
    if (!top || c.headRankingBasis === undefined || c.headRankingBasis === "accuracy") return [];
    const why =
      c.headRankingBasis === "within-noise"
        ? `its ablation turns fewer than ${NOISE_CASES} cases wrong, within the sampling noise`
        : "no head changes the accuracy; the order is the tie-break on mean probability";
    return [
      `caution: ${c.model} ${c.op} ${c.digits}D template ${c.template}: top head ${headName(top)} is not a finding (${c.headRankingBasis}: ${why})`,
    ];
  });
}

export function formatCell(c: CellRankings, top = 5): string {
  const parts = [cellTitle(c)];
  const caution = cautionLines({ schema: RANKINGS_SCHEMA, cells: [c] });
  parts.push(...caution);
  if (c.heads) {
    const median = c.heads[Math.floor(c.heads.length / 2)]!;
    parts.push(
      table(
        ["rank", "head", "accuracy", "drop", "relative drop", "p(correct)"],
        c.heads
          .slice(0, top)
          .map((h, i) => [
            String(i + 1),
            headName(h),
            pct(h.accuracy),
            pct(h.accuracyDrop),
            pct(h.relativeDrop),
            num(h.meanProbCorrect),
          ]),
        new Set([0, 2, 3, 4, 5]),
      ) + `\n(median head ${headName(median)}: relative drop ${pct(median.relativeDrop)})`,
    );
  }
  if (c.neurons && c.ablatedHead) {
    parts.push(
      `neurons by CNA with head ${headName(c.ablatedHead)} ablated (σ: sign of the mean m; writes: top tokens of σ·W_out):\n` +
        table(
          ["rank", "neuron", "CNA", "Imp orig", "Imp ablated", "m", "m'", "top-K cases", "σ", "writes"],
          c.neurons.slice(0, top).map((n, i) => [
            String(i + 1),
            neuronName(n),
            num(n.cnaMean),
            num(n.impOrigMean),
            num(n.impAblatedMean),
            num(n.coefOrigMean, 2),
            num(n.coefAblatedMean, 2),
            String(n.topKCount),
            signText(n.topTokensSign),
            (n.topTokens ?? [])
              .slice(0, 5)
              .map((t) => JSON.stringify(t))
              .join(" "),
          ]),
          new Set([0, 2, 3, 4, 5, 6, 7, 8]),
        ),
    );
  }
  if (c.verification) {
    const v = c.verification;
    parts.push(
      "verification (relative accuracy decrease):\n" +
        table(
          ["K", "mask top-K", "keep top-K", "random K"],
          v.mask.map((m, i) => [
            String(m.k),
            pct(m.relativeDecrease),
            pct(v.keep[i]!.relativeDecrease),
            pct(v.random[i]!.relativeDecrease),
          ]),
          new Set([0, 1, 2, 3]),
        ),
    );
  }
  return parts.join("\n\n");
}

export function formatRankings(r: Rankings, top = 5): string {
  return r.cells.map((c) => formatCell(c, top)).join("\n\n\n");
}

const csvCell = (v: string | number) =>
  typeof v === "number" ? String(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;

/** One row per head and per listed neuron; `kind` says which. */
export function rankingsCsv(r: Rankings): string {
  const header = [
    "model",
    "op",
    "digits",
    "template",
    "kind",
    "rank",
    "layer",
    "index",
    "accuracy",
    "accuracyDrop",
    "relativeDrop",
    "meanProbCorrect",
    "cnaMean",
    "impOrigMean",
    "impAblatedMean",
    "topKCount",
  ];
  const rows: Array<Array<string | number>> = [];
  for (const c of r.cells) {
    const key = [c.model, c.op, c.digits, c.template];
    c.heads?.forEach((h, i) =>
      rows.push([
        ...key,
        "head",
        i + 1,
        h.layer,
        h.head,
        h.accuracy,
        h.accuracyDrop,
        h.relativeDrop,
        h.meanProbCorrect,
        "",
        "",
        "",
        "",
      ]),
    );
    c.neurons?.forEach((n, i) =>
      rows.push([
        ...key,
        "neuron",
        i + 1,
        n.layer,
        n.neuron,
        "",
        "",
        "",
        "",
        n.cnaMean,
        n.impOrigMean,
        n.impAblatedMean,
        n.topKCount,
      ]),
    );
  }
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\n") + "\n";
}
