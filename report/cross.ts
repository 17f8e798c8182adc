/**
 * Comparisons across cells: per operator, every model's top heads side by side, with the layer as
 * relative depth (layer / (layers − 1)) so models of different depth line up; how many cells each
 * head dominates (is rank 1 of); and the heads a model shares across operators (in the top 3 of
 * cells of two or more operators).
 */
import { OPERATORS } from "../core/index.ts";
import type { CellRankings, HeadRank, Operator, Rankings } from "../core/index.ts";
import { esc, formatNumber, headName, num, numAttrs, ptr } from "./format.ts";
import { headGrid } from "./heatmap.ts";
import { divergingColor, symmetricRange } from "./scale.ts";
import { c, text } from "./svg.ts";

/** Heads per cell shown and counted as "top". */
export const TOP_HEADS = 3;

interface Indexed {
  cell: CellRankings;
  index: number;
  heads: HeadRank[];
}

const withHeads = (r: Rankings): Indexed[] =>
  r.cells.flatMap((cell, index) => (cell.heads && cell.heads.length > 0 ? [{ cell, index, heads: cell.heads }] : []));

/** Models in order of first appearance. */
const modelsOf = (cells: readonly Indexed[]): string[] => [...new Set(cells.map((x) => x.cell.model))];

/** Layers of each model, from its head lists (every head is listed). */
export function modelLayers(r: Rankings): Map<string, number> {
  const out = new Map<string, number>();
  for (const x of withHeads(r)) out.set(x.cell.model, Math.max(out.get(x.cell.model) ?? 0, headGrid(x.heads).nLayers));
  return out;
}

/** layer / (layers − 1); 0 for a one-layer model. */
export const relativeDepth = (layer: number, nLayers: number): number => (nLayers > 1 ? layer / (nLayers - 1) : 0);

export const cellLabel = (c: CellRankings): string => `${c.digits}D t${c.template}`;

export interface Dominance {
  model: string;
  layer: number;
  head: number;
  cells: Indexed[];
}

/** Per model, every head that is rank 1 of some cell, most cells first, ties by (layer, head). */
export function dominance(r: Rankings): Dominance[] {
  const byKey = new Map<string, Dominance>();
  for (const x of withHeads(r)) {
    const top = x.heads[0]!;
    const key = `${x.cell.model}\u0000${headName(top)}`;
    const d = byKey.get(key) ?? { model: x.cell.model, layer: top.layer, head: top.head, cells: [] };
    d.cells.push(x);
    byKey.set(key, d);
  }
  const order = modelsOf(withHeads(r));
  return [...byKey.values()].sort(
    (a, b) =>
      order.indexOf(a.model) - order.indexOf(b.model) ||
      b.cells.length - a.cells.length ||
      a.layer - b.layer ||
      a.head - b.head,
  );
}

export interface SharedHead {
  model: string;
  layer: number;
  head: number;
  bestRank: Map<Operator, number>;
}

/** Per model, heads in the top 3 of cells of at least two operators; best rank per operator. */
export function sharedHeads(r: Rankings): SharedHead[] {
  const byKey = new Map<string, SharedHead>();
  for (const x of withHeads(r)) {
    x.heads.slice(0, TOP_HEADS).forEach((h, i) => {
      const key = `${x.cell.model}\u0000${headName(h)}`;
      const s = byKey.get(key) ?? {
        model: x.cell.model,
        layer: h.layer,
        head: h.head,
        bestRank: new Map<Operator, number>(),
      };
      s.bestRank.set(x.cell.op, Math.min(s.bestRank.get(x.cell.op) ?? Infinity, i + 1));
      byKey.set(key, s);
    });
  }
  const order = modelsOf(withHeads(r));
  return [...byKey.values()]
    .filter((s) => s.bestRank.size >= 2)
    .sort(
      (a, b) =>
        order.indexOf(a.model) - order.indexOf(b.model) ||
        b.bestRank.size - a.bestRank.size ||
        a.layer - b.layer ||
        a.head - b.head,
    );
}

export const opHtml = (op: Operator): string => `<code class="op">${esc(op)}</code>`;

const OP_NAMES: Readonly<Record<Operator, string>> = {
  "+": "addition",
  "-": "subtraction",
  "*": "multiplication",
  "/": "division",
};

function depthNum(model: string, layer: number, nLayers: number): string {
  return num(
    relativeDepth(layer, nLayers),
    "depth",
    { derived: "depth" },
    ` data-model="${esc(model)}" data-layer="${layer}"`,
  );
}

/** One operator: a table (a row per model and cell; ranks 1–3 side by side) and a depth strip. */
function operatorBlock(op: Operator, cells: readonly Indexed[], layers: Map<string, number>): string {
  const dash = '<td class="muted">—</td><td></td><td></td>';
  const rows = cells.map((x, r) => {
    const first = r === 0 || cells[r - 1]!.cell.model !== x.cell.model;
    const n = layers.get(x.cell.model)!;
    const ranks = [0, 1, 2].slice(0, TOP_HEADS).map((i) => {
      const h = x.heads[i];
      if (!h) return dash;
      return `<td class="id${i === 0 ? " rank1" : ""}">${esc(headName(h))}</td><td>${depthNum(x.cell.model, h.layer, n)}</td><td class="gap">${num(h.relativeDrop, "pct", { path: ptr("cells", x.index, "heads", i, "relativeDrop") })}</td>`;
    });
    return `<tr${first ? ' class="first"' : ""}><th scope="row" class="model">${first ? esc(x.cell.model) : ""}</th><td>${first ? num(n, "int", { derived: "layers" }, ` data-model="${esc(x.cell.model)}"`) : ""}</td><td class="l gap">${esc(cellLabel(x.cell))}</td>${ranks.join("")}</tr>`;
  });
  const groups = [1, 2, 3]
    .slice(0, TOP_HEADS)
    .map((k) => `<th colspan="3" class="group">rank ${k}</th>`)
    .join("");
  const sub = [1, 2, 3]
    .slice(0, TOP_HEADS)
    .map(() => '<th class="l">head</th><th>depth</th><th class="gap">drop</th>')
    .join("");
  const table = `<table class="numbers cross"><thead><tr><th rowspan="2" class="l">model</th><th rowspan="2">layers</th><th rowspan="2" class="l gap">cell</th>${groups}</tr><tr>${sub}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
  return `<div class="op-block"><h3>Operator ${opHtml(op)} <span class="muted">(${OP_NAMES[op]})</span></h3>${table}</div>`;
}

/** Vertical room of one rank's mark in a depth-strip row: ranks sit in lanes, so marks at the same depth never cover each other. */
const LANE_H = 14;

/** The half-width of the depth strips' colour scale: the largest |drop| among the marks drawn. */
export const depthRange = (cells: readonly Indexed[]): number =>
  symmetricRange(cells.flatMap((x) => x.heads.slice(0, TOP_HEADS).map((h) => h.relativeDrop)));

function depthStrip(op: Operator, cells: readonly Indexed[], layers: Map<string, number>, range: number): string {
  const W = 520;
  const left = 170;
  const right = 16;
  const rowH = TOP_HEADS * LANE_H + 6;
  const top = 26;
  const rows = cells.map((x) => ({ x, label: `${x.cell.model} · ${cellLabel(x.cell)}` }));
  const H = top + rows.length * rowH + 40;
  const pw = W - left - right;
  const pad = 12; // keeps depth-0 markers clear of the row labels
  const sx = (d: number) => left + pad + d * (pw - pad - 56); // room on the right for a label at depth 1
  const parts: string[] = [text(left, 14, `operator ${op} (${OP_NAMES[op]})`, 'class="panel-title"')];
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line class="grid" x1="${c(sx(t))}" x2="${c(sx(t))}" y1="${top}" y2="${top + rows.length * rowH}"/>`);
    parts.push(
      text(sx(t), top + rows.length * rowH + 14, formatNumber(t, "depth"), 'class="tick" text-anchor="middle"'),
    );
  }
  parts.push(
    text(left + pw / 2, H - 8, "relative depth  layer / (layers \u2212 1)", 'class="axis-title" text-anchor="middle"'),
  );
  rows.forEach(({ x, label }, r) => {
    const y0 = top + r * rowH + 3;
    const row: string[] = [];
    if (r > 0) row.push(`<line class="row-rule" x1="${left}" x2="${W - right}" y1="${c(y0 - 3)}" y2="${c(y0 - 3)}"/>`);
    row.push(text(left - 8, y0 + (TOP_HEADS * LANE_H) / 2 + 3.5, label, 'class="tick row-label" text-anchor="end"'));
    const n = layers.get(x.cell.model)!;
    x.heads.slice(0, TOP_HEADS).forEach((h, i) => {
      const d = relativeDepth(h.layer, n);
      const cx = sx(d);
      const cy = y0 + (i + 0.5) * LANE_H;
      const name = `#${i + 1} ${headName(h)}`;
      row.push(
        `<circle class="depth-mark" cx="${c(cx)}" cy="${c(cy)}" r="${i === 0 ? 5.5 : 4.5}" fill="${divergingColor(h.relativeDrop, range)}" stroke="#333" stroke-width="0.8" data-rank="${i + 1}"${numAttrs(d, { derived: "depth" })} data-model="${esc(x.cell.model)}" data-layer="${h.layer}"><title>${esc(`${x.cell.model} ${x.cell.op} ${cellLabel(x.cell)}: head ${headName(h)} (rank ${i + 1}), depth ${formatNumber(d, "depth")}, relative drop ${formatNumber(h.relativeDrop, "pct")}`)}</title></circle>`,
      );
      row.push(text(cx + 8, cy + 3.5, name, `class="mark-label${i === 0 ? " rank1" : ""}" data-rank="${i + 1}"`));
    });
    parts.push(
      `<g class="depth-row" data-model="${esc(x.cell.model)}" data-cell="${esc(cellLabel(x.cell))}">${row.join("")}</g>`,
    );
  });
  return `<svg class="depth" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="top heads at relative depth" data-range="${range}">${parts.join("")}</svg>`;
}

function dominanceTable(r: Rankings, layers: Map<string, number>): string {
  const all = withHeads(r);
  const doms = dominance(r);
  const rows = doms.map((d, i) => {
    const first = i === 0 || doms[i - 1]!.model !== d.model;
    const total = all.filter((x) => x.cell.model === d.model).length;
    const cells = d.cells.map((x) => `${opHtml(x.cell.op)} ${esc(cellLabel(x.cell))}`).join(", ");
    const attrs = ` data-model="${esc(d.model)}" data-head="${esc(headName(d))}"`;
    return (
      `<tr${first ? ' class="first"' : ""}><th scope="row" class="model">${first ? esc(d.model) : ""}</th><td class="id">${esc(headName(d))}${first ? ' <span class="badge">top</span>' : ""}</td>` +
      `<td>${depthNum(d.model, d.layer, layers.get(d.model)!)}</td>` +
      `<td>${num(d.cells.length, "int", { derived: "dominates" }, attrs)} of ${num(total, "int", { derived: "cellsWithHeads" }, ` data-model="${esc(d.model)}"`)}</td><td class="l">${cells}</td></tr>`
    );
  });
  return `<table class="numbers dominance"><caption>A head dominates a cell when it is the cell's rank-1 head; per model, the head that dominates most cells is its top head (ties by layer, then head).</caption><thead><tr><th>model</th><th class="l">head</th><th>depth</th><th>cells dominated</th><th class="l">which</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function sharedTable(r: Rankings, layers: Map<string, number>): string {
  const shared = sharedHeads(r);
  if (shared.length === 0)
    return `<p class="muted">No model has a head in the top ${TOP_HEADS} of cells of two or more operators.</p>`;
  const rows = shared.map((s) => {
    const ops = OPERATORS.filter((op) => s.bestRank.has(op))
      .map((op) => `${opHtml(op)} #${s.bestRank.get(op)}`)
      .join(", ");
    return (
      `<tr><th scope="row" class="model">${esc(s.model)}</th><td class="id">${esc(headName(s))}</td><td>${depthNum(s.model, s.layer, layers.get(s.model)!)}</td>` +
      `<td>${num(s.bestRank.size, "int", { derived: "sharedOperators" }, ` data-model="${esc(s.model)}" data-head="${esc(headName(s))}"`)}</td><td class="l">${ops}</td></tr>`
    );
  });
  return `<table class="numbers shared"><caption>Heads in the top ${TOP_HEADS} of cells of at least two operators (same model); #r is the head's best rank among that operator's cells.</caption><thead><tr><th>model</th><th class="l">head</th><th>depth</th><th>operators</th><th class="l">best rank per operator</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** The "Across models" section, or "" when no cell has head-ablation results. */
export function renderCross(r: Rankings): string {
  const cells = withHeads(r);
  if (cells.length === 0) return "";
  const layers = modelLayers(r);
  const ops = OPERATORS.filter((op) => cells.some((x) => x.cell.op === op));
  const range = depthRange(cells);
  return (
    `<section id="across" class="across"><h2>Across models</h2>` +
    `<p class="lede">Top heads per operator, every model side by side; depth is the layer as a fraction of the model's depth, so models with different layer counts line up.</p>` +
    ops
      .map((op) =>
        operatorBlock(
          op,
          cells.filter((x) => x.cell.op === op),
          layers,
        ),
      )
      .join("") +
    `<h3>Top heads at relative depth</h3><figure class="depths"><div class="panels">${ops
      .map((op) =>
        depthStrip(
          op,
          cells.filter((x) => x.cell.op === op),
          layers,
          range,
        ),
      )
      .join("")}</div>` +
    `<figcaption>Per operator, the top ${TOP_HEADS} heads of each cell at their relative depth layer / (layers − 1), each rank on its own line within the cell's row (#1 on top) and labelled with its rank and head; fill is the relative accuracy drop, red for a drop and blue for a rise, spanning ± the largest |drop| among these marks (${esc(formatNumber(range, "pct"))}).</figcaption></figure>` +
    `<h3>Dominant heads</h3>${dominanceTable(r, layers)}<h3>Heads shared across operators</h3>${sharedTable(r, layers)}</section>`
  );
}
