/**
 * What `cna run` and `cna demo` print when the sweep ends: one row per cell (the summary kind of
 * `cna rankings`), then where the files are and the commands that show the rest. The per-head and
 * per-neuron tables stay one command away (`cna rankings DIR --kind heads`), not on the screen.
 */
import { isAbsolute, join, relative } from "node:path";
import type { Rankings } from "../core/index.ts";
import { toTable } from "./rankings-export.ts";
import { rankingsRows } from "./rankings-rows.ts";

/** The summary table, one row per cell, as `cna rankings DIR` prints it. */
export const summaryTable = (r: Rankings): string => toTable(rankingsRows(r, "summary"));

/** `dir` as the user would type it from `cwd`: relative below it, absolute elsewhere. */
export function shownPath(dir: string, cwd: string): string {
  const rel = relative(cwd, dir);
  return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? dir : rel;
}

/** `text` as one shell word, quoted where the shell would split or expand it, so the printed commands paste as they are. */
export const shellWord = (text: string): string =>
  /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;

/** Lines naming the files written to `outDir` and the commands that read them. */
export function nextSteps(outDir: string, cwd: string): string[] {
  const out = shownPath(outDir, cwd);
  const rankings = join(out, "rankings.json");
  return [
    `cna: wrote ${rankings}, ${join(out, "provenance.json")} and ${join(out, "report.html")} (open it in a browser)`,
    "next:",
    `  cna rankings ${shellWord(out)} --kind heads  # every head of every cell; also neurons, attribution, verification`,
    `  cna rankings ${shellWord(out)} --kind neurons --format csv > neurons.csv  # for pandas.read_csv`,
    `  cna report --rankings ${shellWord(rankings)} -o report.html --top 25  # the report with more neurons a cell`,
  ];
}
