/**
 * A cell's layer × head heatmap of relative accuracy drop (docs/method.md §2), the paper's way of
 * showing which heads do arithmetic: rows are layers (0 at the top), columns heads, the drop on a
 * diverging scale centred at 0 whose range is ± the cell's own largest |drop| (scale.ts), the
 * cell's top head outlined. Every rect carries its raw value and a `<title>` tooltip
 * "L9H1: relative drop X%".
 */
import type { HeadRank } from "../core/index.ts";
import { esc, formatNumber, headName, numAttrs, ptr } from "./format.ts";
import { divergingColor, symmetricRange, textOnDiverging, TOP_HEAD_STROKE } from "./scale.ts";
import { c, text, tickIndices } from "./svg.ts";

/** Layers and heads spanned by a head list (every head of the model, as rankings.json lists them). */
export function headGrid(heads: readonly HeadRank[]): { nLayers: number; nHeads: number } {
  return {
    nLayers: heads.reduce((m, h) => Math.max(m, h.layer + 1), 0),
    nHeads: heads.reduce((m, h) => Math.max(m, h.head + 1), 0),
  };
}

const MARGIN = { left: 48, top: 8, right: 8, bottom: 38 };
/** Cells at least this big show their value as text. */
const LABEL_MIN_PX = 38;

/** Side of one square cell: the grid fits about 400 × 360 px, never below 5 px or above 44 px. */
export function cellSize(nLayers: number, nHeads: number): number {
  return Math.max(5, Math.min(44, Math.floor(Math.min(400 / Math.max(nHeads, 1), 360 / Math.max(nLayers, 1)))));
}

/** The heatmap of cell `cellIndex` (for data-path), from its ranked head list. */
export function renderHeatmap(heads: readonly HeadRank[], cellIndex: number): string {
  const { nLayers, nHeads } = headGrid(heads);
  const s = cellSize(nLayers, nHeads);
  const width = MARGIN.left + nHeads * s + MARGIN.right;
  const height = MARGIN.top + nLayers * s + MARGIN.bottom;
  const x = (head: number) => MARGIN.left + head * s;
  const y = (layer: number) => MARGIN.top + layer * s;
  const range = headRange(heads);
  const parts: string[] = [];
  heads.forEach((h, rank) => {
    const drop = formatNumber(h.relativeDrop, "pct");
    const attrs = `${numAttrs(h.relativeDrop, { path: ptr("cells", cellIndex, "heads", rank, "relativeDrop") })} data-layer="${h.layer}" data-head="${h.head}" data-rank="${rank + 1}"`;
    parts.push(
      `<rect class="hm-cell" x="${c(x(h.head))}" y="${c(y(h.layer))}" width="${c(s)}" height="${c(s)}" fill="${divergingColor(h.relativeDrop, range)}"${attrs}><title>${esc(`${headName(h)}: relative drop ${drop}`)}</title></rect>`,
    );
    if (s >= LABEL_MIN_PX) {
      parts.push(
        `<text class="hm-label" x="${c(x(h.head) + s / 2)}" y="${c(y(h.layer) + s / 2 + 3.5)}" fill="${textOnDiverging(h.relativeDrop, range)}"${numAttrs(h.relativeDrop, { path: ptr("cells", cellIndex, "heads", rank, "relativeDrop") }, "pct")}>${esc(drop)}</text>`,
      );
    }
  });
  const top = heads[0];
  if (top)
    parts.push(
      `<rect class="hm-top" x="${c(x(top.head) + 1)}" y="${c(y(top.layer) + 1)}" width="${c(s - 2)}" height="${c(s - 2)}" fill="none" stroke="${TOP_HEAD_STROKE}" stroke-width="2.5"><title>${esc(`top head ${headName(top)}`)}</title></rect>`,
    );
  for (const l of tickIndices(nLayers))
    parts.push(text(MARGIN.left - 6, y(l) + s / 2 + 3.5, String(l), 'class="tick" text-anchor="end"'));
  for (const h of tickIndices(nHeads))
    parts.push(text(x(h) + s / 2, MARGIN.top + nLayers * s + 14, String(h), 'class="tick" text-anchor="middle"'));
  parts.push(text(MARGIN.left + (nHeads * s) / 2, height - 6, "head", 'class="axis-title" text-anchor="middle"'));
  const midY = MARGIN.top + (nLayers * s) / 2;
  parts.push(text(14, midY, "layer", `class="axis-title" text-anchor="middle" transform="rotate(-90 14 ${c(midY)})"`));
  // Small cells keep their colour: the white separating stroke thins, then goes.
  const dense = s < 7 ? " hm-dense" : s < 12 ? " hm-tight" : "";
  return `<svg class="heatmap${dense}" xmlns="http://www.w3.org/2000/svg" width="${c(width)}" height="${c(height)}" viewBox="0 0 ${c(width)} ${c(height)}" role="img" aria-label="relative accuracy drop per head, ${nLayers} layers by ${nHeads} heads" data-layers="${nLayers}" data-heads="${nHeads}" data-range="${range}">${parts.join("")}</svg>`;
}

const LEGEND_STEPS = 50;

/** The half-width of a cell's colour scale: its largest |relative drop|. */
export const headRange = (heads: readonly HeadRank[]): number => symmetricRange(heads.map((h) => h.relativeDrop));

/** A signed percentage for the legend: "+62.5%", "0%", "−62.5%". */
const signedPct = (v: number): string => (v === 0 ? "0%" : `${v > 0 ? "+" : ""}${formatNumber(v, "pct")}`);

/** The colour legend of one heatmap: its scale from −range (blue) through 0 (neutral) to +range (red). */
export function renderDropLegend(range: number): string {
  const w = 200;
  const step = w / LEGEND_STEPS;
  const x0 = 22;
  const parts: string[] = [];
  for (let i = 0; i < LEGEND_STEPS; i++) {
    const v = range * (((i + 0.5) / LEGEND_STEPS) * 2 - 1);
    parts.push(
      `<rect class="legend-step" x="${c(x0 + i * step)}" y="18" width="${c(step + 0.3)}" height="10" fill="${divergingColor(v, range)}"/>`,
    );
  }
  parts.push(`<rect x="${x0}" y="18" width="${w}" height="10" fill="none" stroke="#999" stroke-width="0.5"/>`);
  for (const t of [-1, -0.5, 0, 0.5, 1]) {
    const x = x0 + ((t + 1) / 2) * w;
    parts.push(`<line x1="${c(x)}" y1="28" x2="${c(x)}" y2="31" stroke="#666"/>`);
    parts.push(text(x, 42, signedPct(t * range), `class="tick" text-anchor="middle" data-tick="${t * range}"`));
  }
  parts.push(text(x0, 12, "relative accuracy drop (range: this cell's largest |drop|)", 'class="axis-title"'));
  const width = w + 2 * x0 + 120;
  return `<svg class="legend" xmlns="http://www.w3.org/2000/svg" width="${width}" height="48" viewBox="0 0 ${width} 48" role="img" aria-label="colour scale: relative accuracy drop from ${esc(signedPct(-range))} (blue) through 0 (white) to ${esc(signedPct(range))} (red)" data-range="${range}">${parts.join("")}</svg>`;
}
