/**
 * renderReport: rankings.json (+ provenance) → one self-contained HTML page. No external
 * resources (a Content-Security-Policy forbids them), styles inline, every chart an SVG drawn
 * here, one small inline script that sorts and filters the tables (allowed by its hash, no other
 * script runs); all text escaped. The page is a pure function of its inputs: rendering the same
 * rankings twice gives the same bytes.
 */
import { NOISE_CASES, RANKINGS_SCHEMA, TEMPLATES } from "../core/index.ts";
import type { CellRankings, Rankings } from "../core/index.ts";
import { renderCross, opHtml } from "./cross.ts";
import { renderCurves, renderCurvesTable } from "./curves.ts";
import { ReportInputError } from "./errors.ts";
import { esc, headName, neuronName, num, ptr } from "./format.ts";
import { headRange, renderDropLegend, renderHeatmap } from "./heatmap.ts";
import { renderNeuronTable } from "./neurons.ts";
import { renderAttribution } from "./attribution.ts";
import { renderProvenance } from "./provenance.ts";
import { renderStatusBanner } from "./status.ts";
import { renderHeadTable } from "./heads.ts";
import { TABLE_SCRIPT, TABLE_SCRIPT_HASH } from "./interactive.ts";
import type { ReportProvenance } from "./provenance.ts";
import { STYLES } from "./styles.ts";

export interface ReportOptions {
  /** the page's title and heading (default: the sweep's name from the provenance, else "cna-sweep report") */
  title?: string;
  /** neurons listed per cell (default 10) */
  topNeurons?: number;
  /** the rankings are a running sweep's, not final: say so on the page (default false) */
  partial?: boolean;
}

export interface ResolvedReportOptions {
  title: string;
  topNeurons: number;
  partial: boolean;
}

const DEFAULT_TITLE = "cna-sweep report";

/**
 * Options with their defaults; the title defaults to the sweep's name, so the provenance (which
 * carries it) is an input here.
 */
export function resolveReportOptions(o: ReportOptions = {}, provenance?: ReportProvenance): ResolvedReportOptions {
  const topNeurons = o.topNeurons ?? 10;
  if (!Number.isSafeInteger(topNeurons) || topNeurons < 1)
    throw new ReportInputError(
      "report options",
      "topNeurons",
      `expected an integer >= 1 (got ${String(o.topNeurons)})`,
    );
  return { title: o.title ?? provenance?.name ?? DEFAULT_TITLE, topNeurons, partial: o.partial ?? false };
}

/** Nothing loads from anywhere; inline styles, and the one table script by its hash. */
const CSP = `default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src ${TABLE_SCRIPT_HASH}`;

export function renderReport(rankings: Rankings, provenance?: ReportProvenance, options: ReportOptions = {}): string {
  const o = resolveReportOptions(options, provenance);
  const body = [
    header(rankings, provenance, o),
    summary(rankings),
    ...rankings.cells.map((cell, i) => renderCell(cell, i, o)),
    renderCross(rankings),
    renderProvenance(provenance),
    `<footer>Rendered by cna-sweep from rankings.json (${esc(RANKINGS_SCHEMA)}). Numbers are formatted by fixed rules: percentages with 1 decimal, scores with 3, coefficients and depths with 2; hover a chart element for its value. Indices are 0-based; a head is L9H1 (layer 9, head 1), a neuron L11N2824.</footer>`,
  ].join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<title>${esc(o.title)}</title>
<link rel="icon" href="data:,">
<style>${STYLES}</style>
</head>
<body>
<main>
${body}
</main>
<script>${TABLE_SCRIPT}</script>
</body>
</html>
`;
}

function header(r: Rankings, p: ReportProvenance | undefined, o: ResolvedReportOptions): string {
  const models = new Set(r.cells.map((c) => c.model)).size;
  const ops = [...new Set(r.cells.map((c) => c.op))];
  const banner = renderStatusBanner(r, p, o.partial);
  const kicker = o.title === DEFAULT_TITLE ? "" : `<p class="kicker">cna-sweep report</p>`;
  return `<header>${kicker}<h1>${esc(o.title)}</h1><p class="lede">Attention-head ablation and Comparative Neuron Analysis (Yu &amp; Ananiadou, EMNLP 2024): ${r.cells.length} cell${r.cells.length === 1 ? "" : "s"} over ${models} model${models === 1 ? "" : "s"} and the operator${ops.length === 1 ? "" : "s"} ${ops.map(opHtml).join(" ")}.</p>${banner}</header>`;
}

/** Why a cell's top head is no finding, when it is not (rankings' headRankingBasis); "" otherwise. */
function basisWarning(c: CellRankings): string {
  if (c.headRankingBasis === "meanProbCorrect-only") {
    return "<b>No head changes the accuracy of this cell</b> (every head ties on accuracy after ablation): the head order is the tie-break on mean probability alone, so rank 1 is not a finding.";
  }
  if (c.headRankingBasis === "within-noise") {
    return `<b>The top head's drop is within the sampling noise</b>: ablating it turns fewer than ${NOISE_CASES} of the cell's cases wrong, which an exact sign test cannot tell apart from no effect (p &gt; 0.05); rank 1 is not a finding.`;
  }
  return "";
}

export const cellTitle = (c: CellRankings): string =>
  `${esc(c.model)} · ${opHtml(c.op)} · ${esc(c.digits)}D · template ${esc(c.template)}`;

function summary(r: Rankings): string {
  if (r.cells.length === 0)
    return `<section id="summary"><h2>Summary</h2><p class="muted">The rankings hold no cells.</p></section>`;
  const rows = r.cells.map((c, i) => {
    const top = c.heads?.[0];
    const n = c.neurons?.[0];
    const v = c.verification;
    const last = v ? v.mask.length - 1 : -1;
    const dash = '<span class="muted">—</span>';
    return (
      `<tr><td><a href="#cell-${i}">${i + 1}</a></td><th scope="row" class="model">${esc(c.model)}</th><td>${opHtml(c.op)}</td><td>${esc(c.digits)}D</td><td>${esc(c.template)}</td>` +
      `<td>${num(c.cases, "int", { path: ptr("cells", i, "cases") })}</td><td>${num(c.baselineAccuracy, "pct", { path: ptr("cells", i, "baselineAccuracy") })}</td>` +
      `<td class="id">${top ? esc(headName(top)) : dash}${basisWarning(c) ? ' <span class="caution-mark" title="not a finding: see the cell">⚠</span>' : ""}</td><td>${top ? num(top.relativeDrop, "pct", { path: ptr("cells", i, "heads", 0, "relativeDrop") }) : dash}</td>` +
      `<td class="id">${n ? esc(neuronName(n)) : dash}</td><td>${n ? num(n.cnaMean, "score", { path: ptr("cells", i, "neurons", 0, "cnaMean") }) : dash}</td>` +
      `<td>${v && last >= 0 ? num(v.mask[last]!.relativeDecrease, "pct", { path: ptr("cells", i, "verification", "mask", last, "relativeDecrease") }) : dash}</td>` +
      `<td>${v && v.random[last] ? num(v.random[last].relativeDecrease, "pct", { path: ptr("cells", i, "verification", "random", last, "relativeDecrease") }) : dash}</td></tr>`
    );
  });
  return (
    `<section id="summary"><h2>Summary</h2><table class="numbers summary sortable"><caption>One row per cell. Top head: rank 1 by accuracy after ablation; its relative accuracy drop. Top neuron: rank 1 by mean CNA score. Mask / random: relative accuracy decrease at the largest K.</caption>` +
    `<thead><tr><th>#</th><th class="l">model</th><th>op</th><th>digits</th><th>template</th><th>cases</th><th>baseline</th><th class="l">top head</th><th>rel. drop</th><th class="l">top neuron</th><th>CNA</th><th>mask</th><th>random</th></tr></thead><tbody>${rows.join("")}</tbody></table></section>`
  );
}

function renderCell(c: CellRankings, i: number, o: ResolvedReportOptions): string {
  const template = TEMPLATES[c.op]?.[c.template - 1];
  const top = c.heads?.[0];
  const meta = [
    template === undefined ? "" : `<span>prompt <code>${esc(template)}</code></span>`,
    `<span>${num(c.cases, "int", { path: ptr("cells", i, "cases") })} cases</span>`,
    `<span>baseline accuracy ${num(c.baselineAccuracy, "pct", { path: ptr("cells", i, "baselineAccuracy") })}</span>`,
    top
      ? `<span>top head <span class="id">${esc(headName(top))}</span>: accuracy ${num(top.accuracy, "pct", { path: ptr("cells", i, "heads", 0, "accuracy") })}, relative drop ${num(top.relativeDrop, "pct", { path: ptr("cells", i, "heads", 0, "relativeDrop") })}</span>`
      : "",
  ]
    .filter(Boolean)
    .join("");
  const caution = basisWarning(c);
  const heat =
    c.heads && c.heads.length > 0
      ? `<figure class="heads">${renderHeatmap(c.heads, i)}${renderDropLegend(headRange(c.heads))}<figcaption><b>Head ablation.</b> Relative accuracy drop when each head's output is zeroed at every position (rows layers, columns heads): red where ablating the head lowers accuracy, blue where it raises it, white for no change; the colours span ± this cell's largest |drop|, so compare cells by their numbers, not their colours. The top head ${top ? `<b>${esc(headName(top))}</b> ` : ""}is outlined.</figcaption></figure>`
      : `<p class="muted">No head-ablation results for this cell.</p>`;
  const ablated = c.ablatedHead ? ` (head ${esc(headName(c.ablatedHead))} ablated for CNA)` : "";
  const curves = c.verification
    ? `<figure class="verification">${renderCurves(c.verification, i)}${renderCurvesTable(c.verification, i)}<figcaption><b>Verification.</b> Relative accuracy decrease when each case's top-K CNA neurons${ablated} are zeroed (mask), when every other FFN neuron from the top head's layer on is zeroed (keep), and when K random neurons from the same layers are zeroed (control, seed ${esc(c.verification.seed)}).</figcaption></figure>`
    : `<p class="muted">No verification results for this cell.</p>`;
  const headTable = c.heads && c.heads.length > 0 ? `<h3>Heads</h3>${renderHeadTable(c, i)}` : "";
  const neurons =
    c.neurons && c.neurons.length > 0
      ? `<h3>Neurons</h3>${renderNeuronTable(c, i, o.topNeurons)}`
      : `<p class="muted">No CNA results for this cell.</p>`;
  return `<section class="cell" id="cell-${i}"><h2>${cellTitle(c)}</h2><p class="cell-meta">${meta}</p>${caution ? `<p class="caution" data-basis="${esc(c.headRankingBasis ?? "")}">${caution}</p>` : ""}<div class="figure-row">${heat}${curves}</div>${headTable}${neurons}${renderAttribution(c, i, o.topNeurons)}</section>`;
}
