/**
 * A cell's top heads by ablation (docs/method.md §2) as a table beside its heatmap: accuracy
 * after ablating the head, the drop and relative drop from the baseline, and the mean probability
 * of the correct answer, in rank order. Sortable and filterable in the page (interactive.ts).
 */
import type { CellRankings } from "../core/index.ts";
import { esc, headName, num, ptr } from "./format.ts";

/** Heads listed per cell; the heatmap shows them all. */
export const HEADS_LISTED = 10;

export function renderHeadTable(cell: CellRankings, cellIndex: number): string {
  const heads = (cell.heads ?? []).slice(0, HEADS_LISTED);
  const p = (i: number, field: string) => ({ path: ptr("cells", cellIndex, "heads", i, field) });
  const rows = heads.map(
    (h, i) =>
      `<tr><td>${i + 1}</td><td class="id">${esc(headName(h))}</td><td>${esc(h.layer)}</td>` +
      `<td>${num(h.accuracy, "pct", p(i, "accuracy"))}</td><td>${num(h.accuracyDrop, "pct", p(i, "accuracyDrop"))}</td>` +
      `<td>${num(h.relativeDrop, "pct", p(i, "relativeDrop"))}</td><td>${num(h.meanProbCorrect, "score", p(i, "meanProbCorrect"))}</td></tr>`,
  );
  return (
    `<table class="numbers heads sortable"><caption>Top ${heads.length} of ${esc((cell.heads ?? []).length)} heads by accuracy after ablation (lowest first); drop = baseline − accuracy, relative drop = drop / baseline; P(correct) the mean probability of the correct answer after ablation. Click a column to sort.</caption>` +
    `<thead><tr><th>#</th><th class="l">head</th><th>layer</th><th>accuracy</th><th>drop</th><th>rel. drop</th><th>P(correct)</th></tr></thead><tbody>${rows.join("")}</tbody></table>`
  );
}
