/**
 * Aligned text tables (`cna rankings --format table`, the summary after `cna run`) and the
 * caution lines `cna watch` prints for cells whose top head is no finding.
 */
import { NOISE_CASES, headName } from "../core/index.ts";
import type { Rankings } from "../core/index.ts";

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
