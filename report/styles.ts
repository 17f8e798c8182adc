/** The report's stylesheet, inlined in the page: system fonts only, print-friendly. */
export const STYLES = `
:root { --ink: #1a1a1a; --muted: #6b6b6b; --rule: #d9d9d9; --soft: #f5f6f8; --accent: #08519c; --top: #e66100; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; font: 14px/1.45 "Helvetica Neue", Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1140px; margin: 0 auto; padding: 28px 32px 64px; }
h1 { font-size: 24px; font-weight: 600; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 18px; font-weight: 600; margin: 40px 0 6px; padding-top: 14px; border-top: 1.5px solid var(--ink); }
h3 { font-size: 15px; font-weight: 600; margin: 22px 0 8px; }
p { margin: 6px 0; }
.lede { color: #333; max-width: 78ch; }
.muted { color: var(--muted); }
.caution { border-left: 4px solid var(--top); background: #fff4e6; padding: 6px 10px; margin: 6px 0; max-width: 90ch; }
.caution-mark { color: var(--top); }
.kicker { margin: 0 0 2px; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.06em; }
.banner { background: #fff4e5; border-left: 4px solid var(--top); padding: 8px 12px; margin: 12px 0; }
.banner p { margin: 2px 0; }
.banner.failed { background: #fdecea; border-left-color: #b2182b; }
.banner table.quarantine { margin: 6px 0 2px; }
.banner td.reason { max-width: 60ch; overflow-wrap: anywhere; }
.banner td.cell { white-space: nowrap; }
.banner details code { display: block; font-size: 11px; }
.banner summary { cursor: pointer; white-space: nowrap; }
code, pre, .id, .tok { font-family: "DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
code.op { font-weight: 600; padding: 0 3px; background: var(--soft); border-radius: 3px; }
.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
nav.toc { columns: 3 240px; font-size: 13px; margin: 8px 0 0; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
table.numbers { border-collapse: collapse; margin: 8px 0 4px; font-size: 13px; }
table.numbers caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 12px; padding-top: 6px; max-width: 90ch; }
table.numbers th, table.numbers td { padding: 3px 10px; text-align: right; vertical-align: top; }
table.numbers thead th { border-top: 1.5px solid var(--ink); border-bottom: 1px solid var(--ink); font-weight: 600; white-space: nowrap; }
table.numbers tbody tr:last-child td, table.numbers tbody tr:last-child th { border-bottom: 1.5px solid var(--ink); }
table.numbers th:first-child, table.numbers td:first-child, table.numbers .model, table.numbers .tokens, table.numbers .id, table.numbers th.l { text-align: left; }
table.numbers th.model { font-weight: 500; white-space: nowrap; }
table.numbers.small { font-size: 12px; }
table.numbers.dominance tr.first td, table.numbers.dominance tr.first th { border-top: 1px solid var(--rule); }
table.numbers td.l { text-align: left; }
table.cross { font-size: 12.5px; }
table.cross th.group { text-align: center; border-bottom: 1px solid var(--rule); padding-bottom: 1px; }
table.cross thead tr + tr th { border-top: 0; }
table.cross .gap { padding-right: 18px; }
table.cross td.rank1 { font-weight: 600; }
table.cross tr.first td, table.cross tr.first th { border-top: 1px solid var(--rule); }
table.cross tbody tr:first-child td, table.cross tbody tr:first-child th { border-top: 0; }
.badge { font: 600 10px/1 "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; color: #fff; background: var(--top); padding: 2px 4px; border-radius: 3px; vertical-align: 1px; }
.tok { background: var(--soft); border: 1px solid #e3e5e8; border-radius: 3px; padding: 0 3px; white-space: pre; }
.coef { white-space: nowrap; }
.arrow { color: var(--muted); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
section.cell { break-inside: avoid-page; }
.cell-meta { color: #333; font-size: 13px; margin: 2px 0 10px; }
.cell-meta > span + span::before { content: " · "; color: var(--muted); }
.figure-row { display: flex; flex-wrap: wrap; gap: 12px 40px; align-items: flex-start; }
figure { margin: 0; }
figure > svg { display: block; }
figure > svg.legend { margin: 2px 0 0 40px; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; max-width: 440px; }
figcaption b { color: var(--ink); font-weight: 600; }
svg text { font-family: "Helvetica Neue", Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif; }
svg text:not([fill]) { fill: #333; }
svg .tick { font-size: 11px; fill: #555; }
svg .axis-title { font-size: 11.5px; fill: #222; }
svg .legend-label { font-size: 11.5px; fill: #222; }
svg .hm-label { font-size: 10px; text-anchor: middle; font-variant-numeric: tabular-nums; }
svg .panel-title { font-size: 12px; font-weight: 600; fill: #222; }
.panels { display: flex; flex-wrap: wrap; gap: 8px 36px; }
figure.depths figcaption { max-width: 90ch; }
svg .mark-label { font-size: 10px; font-family: "DejaVu Sans Mono", Menlo, monospace; fill: #444; }
svg .mark-label.rank1 { font-weight: 600; fill: #111; }
svg .row-rule { stroke: #e4e4e4; stroke-width: 1; }
svg .grid { stroke: #ececec; stroke-width: 1; }
svg .axis { stroke: #444; stroke-width: 1; }
svg .zero { stroke: #999; stroke-dasharray: 2 2; }
svg .hm-cell { stroke: #fff; stroke-width: 1; }
svg.hm-tight .hm-cell { stroke-width: 0.5; }
svg.hm-dense .hm-cell { stroke: none; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 8px 0 14px; font-size: 13px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.digest { font-size: 11px; word-break: break-all; }
.sweep-file pre { background: var(--soft); border: 1px solid var(--rule); padding: 10px 12px; max-height: 420px; overflow: auto; font-size: 12px; line-height: 1.4; }
.sweep-file { margin-top: 14px; }
.sweep-file figcaption { max-width: none; margin: 0 0 4px; }
input.table-filter { display: block; margin: 10px 0 0; padding: 3px 6px; font: inherit; font-size: 12.5px; border: 1px solid var(--rule); border-radius: 3px; width: 16em; }
table.sortable thead th.sort { cursor: pointer; user-select: none; }
table.sortable thead th.sort:hover { color: var(--accent); }
table.sortable thead th[aria-sort="descending"]::after { content: " \\25BE"; }
table.sortable thead th[aria-sort="ascending"]::after { content: " \\25B4"; }
footer { margin-top: 48px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--rule); padding-top: 8px; }
@media (max-width: 900px) {
  main { padding: 20px 12px 48px; }
  table.summary { font-size: 12px; }
  table.summary th, table.summary td { padding: 3px 5px; }
  table.summary thead th { white-space: normal; vertical-align: bottom; }
  table.cross th, table.cross td { padding: 3px 5px; }
  table.cross .gap { padding-right: 10px; }
}
@media print { input.table-filter { display: none; } }
@media print { main { max-width: none; padding: 0; } h2 { break-after: avoid; } .sweep-file pre { max-height: none; } }
`;
