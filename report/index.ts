/**
 * report — the HTML report of a sweep: one self-contained file (no external resources; styles
 * inline, charts as SVG drawn here, one inline script that sorts and filters the tables) with a
 * banner when the sweep failed or is running; per cell, the layer × head heatmap of relative
 * accuracy drop, the top heads, the top CNA neurons and the verification curves; across models,
 * the top heads at relative depth, dominant heads and heads shared across operators; and provenance.
 * Every key number carries its raw value in `data-value` and its origin in `data-path` (a JSON
 * Pointer into rankings.json), `data-derived` or `data-provenance-path`.
 *
 * @example
 * ```ts
 * import { parseProvenance, parseRankingsJson, renderReport } from "../report/index.ts";
 *
 * const rankings = parseRankingsJson(readFileSync("out/rankings.json", "utf8"), "out/rankings.json");
 * const provenance = parseProvenance(JSON.parse(readFileSync("out/provenance.json", "utf8")), "out/provenance.json");
 * writeFileSync("out/report.html", renderReport(rankings, provenance, { title: "zoo-quick" }));
 * ```
 */
export { renderReport, resolveReportOptions } from "./render.ts";
export type { ReportOptions, ResolvedReportOptions } from "./render.ts";
export { checkRankings, parseRankingsJson } from "./input.ts";
export { parseProvenance } from "./provenance.ts";
export type { QuarantinedShardInfo, ReportProvenance, StageCounts } from "./provenance.ts";
export { ReportInputError } from "./errors.ts";
export { FORMATS, esc, formatNumber, ptr } from "./format.ts";
export type { NumberFormat, NumberSource } from "./format.ts";
export { DIVERGING, NEUTRAL, SERIES_STYLE, divergingColor, symmetricRange } from "./scale.ts";
export { headRange } from "./heatmap.ts";
export { kTickLabels } from "./curves.ts";
export { dominance, modelLayers, relativeDepth, sharedHeads, TOP_HEADS } from "./cross.ts";
