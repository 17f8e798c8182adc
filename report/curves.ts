/**
 * A cell's verification curves (docs/method.md §5): relative accuracy decrease against K for masking
 * each case's top-K CNA neurons, keeping only them (every other neuron zeroed), and the random
 * control, as an SVG line chart with axes, grid and legend (its labels say what is zeroed), x
 * ticks at the K values run, and the same numbers as a small table.
 */
import type { VerificationPoint, VerificationRankings } from "../core/index.ts";
import { esc, formatNumber, num, numAttrs, ptr } from "./format.ts";
import { SERIES_STYLE } from "./scale.ts";
import type { Series } from "./scale.ts";
import { c, marker, text } from "./svg.ts";

const SERIES: readonly Series[] = ["mask", "keep", "random"];
const W = 400;
const H = 276;
const M = { left: 52, right: 16, top: 56, bottom: 42 };

/** The y-axis domain: 0 to 100 %, widened downwards in 25 % steps when an intervention helped. */
export function decreaseDomain(v: VerificationRankings): [number, number] {
  const all = SERIES.flatMap((s) => v[s].map((p) => p.relativeDecrease)).filter(Number.isFinite);
  const lo = Math.min(0, ...all);
  const hi = Math.max(1, ...all);
  return [Math.floor(lo * 4) / 4, Math.ceil(hi * 4) / 4];
}

export function renderCurves(v: VerificationRankings, cellIndex: number): string {
  const ks = v.mask.map((p) => p.k);
  const kMax = Math.max(1, ...ks);
  const [y0, y1] = decreaseDomain(v);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (k: number) => M.left + (k / kMax) * pw;
  const sy = (t: number) => M.top + (1 - (t - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  for (let t = y0; t <= y1 + 1e-9; t += 0.25) {
    parts.push(`<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${c(sy(t))}" y2="${c(sy(t))}"/>`);
    parts.push(text(M.left - 6, sy(t) + 3.5, `${Math.round(t * 100)}%`, 'class="tick" text-anchor="end"'));
  }
  for (const k of kTickLabels(ks, sx)) {
    parts.push(
      `<line class="axis k-tick" x1="${c(sx(k.k))}" x2="${c(sx(k.k))}" y1="${H - M.bottom}" y2="${H - M.bottom + 4}" data-k="${k.k}"/>`,
    );
    if (k.labelled)
      parts.push(
        text(sx(k.k), H - M.bottom + 16, String(k.k), `class="tick k-label" text-anchor="middle" data-k="${k.k}"`),
      );
  }
  parts.push(`<line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}"/>`);
  parts.push(`<line class="axis" x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}"/>`);
  if (y0 < 0)
    parts.push(`<line class="axis zero" x1="${M.left}" x2="${W - M.right}" y1="${c(sy(0))}" y2="${c(sy(0))}"/>`);
  parts.push(text(M.left + pw / 2, H - 6, "K (top CNA neurons per case)", 'class="axis-title" text-anchor="middle"'));
  const midY = M.top + ph / 2;
  parts.push(
    text(
      14,
      midY,
      "relative accuracy decrease",
      `class="axis-title" text-anchor="middle" transform="rotate(-90 14 ${c(midY)})"`,
    ),
  );
  for (const s of SERIES) parts.push(seriesSvg(s, v[s], cellIndex, sx, sy));
  parts.push(legend());
  return `<svg class="curves" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="relative accuracy decrease against K for mask, keep and random">${parts.join("")}</svg>`;
}

/** Closest two x labels may sit, in px, before the later one is left out (its tick stays). */
const MIN_LABEL_GAP = 22;

/**
 * The x ticks: one at each K actually run (no tick at a K that was not), labelled left to right
 * while labels keep MIN_LABEL_GAP apart; the largest K is always labelled.
 */
export function kTickLabels(ks: readonly number[], sx: (k: number) => number): Array<{ k: number; labelled: boolean }> {
  const sorted = [...new Set(ks)].sort((a, b) => a - b);
  const out = sorted.map((k) => ({ k, labelled: false }));
  let last = -Infinity;
  out.forEach((t, i) => {
    const isLast = i === out.length - 1;
    if (isLast) {
      // the largest K wins over the label before it when they crowd
      const prev = out
        .slice(0, i)
        .reverse()
        .find((p) => p.labelled);
      if (prev && sx(t.k) - sx(prev.k) < MIN_LABEL_GAP) prev.labelled = false;
      t.labelled = true;
    } else if (sx(t.k) - last >= MIN_LABEL_GAP) {
      t.labelled = true;
      last = sx(t.k);
    }
  });
  return out;
}

function seriesSvg(
  s: Series,
  points: readonly VerificationPoint[],
  cellIndex: number,
  sx: (k: number) => number,
  sy: (t: number) => number,
): string {
  const style = SERIES_STYLE[s];
  const d = points.map((p, i) => `${i === 0 ? "M" : "L"}${c(sx(p.k))} ${c(sy(p.relativeDecrease))}`).join("");
  const line =
    points.length > 1
      ? `<path d="${d}" fill="none" stroke="${style.color}" stroke-width="1.8"${style.dash ? ` stroke-dasharray="${style.dash}"` : ""}/>`
      : "";
  const marks = points.map((p, i) =>
    marker(
      style.marker,
      sx(p.k),
      sy(p.relativeDecrease),
      3.6,
      style.color,
      `${numAttrs(p.relativeDecrease, { path: ptr("cells", cellIndex, "verification", s, i, "relativeDecrease") })} data-series="${s}" data-k="${p.k}" class="pt"`,
      `${s} K=${p.k}: relative decrease ${formatNumber(p.relativeDecrease, "pct")} (accuracy ${formatNumber(p.accuracy, "pct")})`,
    ),
  );
  return `<g class="series series-${s}">${line}${marks.join("")}</g>`;
}

/** The legend: one item per line above the plot, each label saying which neurons are zeroed. */
function legend(): string {
  return SERIES.map((s, i) => {
    const st = SERIES_STYLE[s];
    const x = M.left;
    const y = 10 + i * 14;
    return (
      `<g class="legend-item" data-series="${s}"><line x1="${x}" x2="${x + 22}" y1="${y}" y2="${y}" stroke="${st.color}" stroke-width="1.8"${st.dash ? ` stroke-dasharray="${st.dash}"` : ""}/>` +
      marker(st.marker, x + 11, y, 3.6, st.color, "", st.label) +
      text(x + 28, y + 4, st.label, 'class="legend-label"') +
      "</g>"
    );
  }).join("");
}

/** The curves' numbers: one row per K. */
export function renderCurvesTable(v: VerificationRankings, cellIndex: number): string {
  const cell = (s: Series, i: number) => {
    const p = v[s][i];
    return p
      ? `<td>${num(p.relativeDecrease, "pct", { path: ptr("cells", cellIndex, "verification", s, i, "relativeDecrease") })}</td>`
      : "<td>–</td>";
  };
  const rows = v.mask.map(
    (p, i) =>
      `<tr><td>${num(p.k, "int", { path: ptr("cells", cellIndex, "verification", "mask", i, "k") })}</td>${SERIES.map((s) => cell(s, i)).join("")}</tr>`,
  );
  const head = SERIES.map(
    (s) =>
      `<th title="${esc(SERIES_STYLE[s].label)}"><span class="swatch" style="background:${SERIES_STYLE[s].color}"></span>${esc(s)}</th>`,
  ).join("");
  return `<table class="numbers small"><thead><tr><th>K</th>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}
