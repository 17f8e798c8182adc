/**
 * `cna rankings` output: a rankings.json read from a file (or fetched from a coordinator by
 * remote.ts) written as one tidy table (cli/rankings-rows.ts) in CSV (RFC 4180), JSON Lines, an
 * aligned text table, or JSON. CSV loads with pandas as it is:
 *
 *   cna rankings cna-out/zoo-quick/rankings.json --kind heads --format csv > heads.csv
 *   python3 -c 'import pandas; print(pandas.read_csv("heads.csv").head())'
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { NOISE_CASES, RANKINGS_SCHEMA } from "../core/index.ts";
import type { Rankings } from "../core/index.ts";
import { checkRankings, ReportInputError } from "../report/index.ts";
import { choice, integerFlag, stringFlag } from "./args.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import type { CliIo } from "./command.ts";
import { BadRankingsFileError, RankingsNotFoundError } from "./errors.ts";
import { prepareOutput, writeTextAtomic } from "./files.ts";
import { notAFinding, ROW_KINDS, SUMMARY_K, rankingsRows } from "./rankings-rows.ts";
import type { Column, Row, RowKind, RowTable, RowValue } from "./rankings-rows.ts";
import { table } from "./tables.ts";

export const RANKINGS_FORMATS = ["table", "csv", "jsonl", "json"] as const;
export type RankingsFormat = (typeof RANKINGS_FORMATS)[number];

/** Rows per cell the table format shows when --top is not given; the other formats show all. */
export const TABLE_TOP = 10;

export const RANKINGS_EXPORT_FLAGS: readonly FlagSpec[] = [
  {
    name: "format",
    value: "FORMAT",
    help: "table (default), csv (RFC 4180), jsonl (one JSON object a row) or json (the rankings.json itself unless --kind is given)",
  },
  {
    name: "kind",
    value: "KIND",
    help: `which table: ${ROW_KINDS.join(", ")} (default summary: one row per cell)`,
  },
  {
    name: "top",
    value: "N",
    help: `ranked heads or neurons per cell (default: all; ${TABLE_TOP} in the table format)`,
  },
  { name: "out", short: "o", value: "FILE", help: "write to FILE instead of stdout (- is stdout, the default)" },
];

export const RANKINGS_NOTES = `SOURCE is a sweep id on a coordinator, or a rankings.json (or the directory cna run wrote it to).
Kinds (one row per item; every row names its cell: model, op, digits, template):
  summary       a cell: baseline accuracy, top head and its relative drop, top neuron, mask/keep/random at K=${SUMMARY_K} (or the nearest K)
  heads         a head: rank, layer, head, name (L9H1), accuracy, drop, relative drop, mean p(correct)
  neurons       a neuron by CNA score: rank, layer, neuron, name (L11N2824), scores, m and m', σ, top tokens
  attribution   a neuron by importance (attribution stage): rank, layer, neuron, name, Imp, m, σ, top tokens
  verification  a (K, condition) point: mask, keep or random top-K, accuracy and relative decrease
In CSV and JSONL the numbers are unrounded and top tokens are a JSON list (text in a CSV field).
Examples:
  cna rankings cna-out/zoo-quick --kind heads --format table
  cna rankings cna-out/zoo-quick/rankings.json --kind neurons --format csv > neurons.csv
  python3 -c 'import pandas; print(pandas.read_csv("neurons.csv"))'`;

export interface RankingsExportOptions {
  format: RankingsFormat;
  /** null: the whole rankings.json (json) or the summary (other formats) */
  kind: RowKind | null;
  top: number;
  /** null for stdout */
  outPath: string | null;
}

export function resolveRankingsExportOptions(v: FlagValues): RankingsExportOptions {
  const format = v.format === undefined ? "table" : choice("--format", String(v.format), RANKINGS_FORMATS);
  const kind = v.kind === undefined ? null : choice("--kind", String(v.kind), ROW_KINDS);
  const top =
    v.top === undefined ? (format === "table" ? TABLE_TOP : Infinity) : integerFlag("--top", String(v.top), 1);
  const out = stringFlag(v, "out");
  return { format, kind, top, outPath: out === undefined || out === "-" ? null : resolve(out) };
}

/**
 * True when `cna rankings` was given a path rather than a sweep id: something that exists here,
 * or that reads as a path (a separator, a .json name), so a mistyped path is reported missing
 * instead of being looked up on a coordinator.
 */
export function isRankingsPath(source: string): boolean {
  return existsSync(source) || source.includes("/") || source.includes(sep) || source.endsWith(".json");
}

/** A rankings.json file, or the one in a directory (what `cna run --out DIR` writes). */
export async function readRankingsFile(source: string): Promise<{ rankings: Rankings; text: string; path: string }> {
  const path = existsSync(source) && statSync(source).isDirectory() ? join(source, "rankings.json") : source;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new RankingsNotFoundError(
        path,
        `${path}: no such file (give a rankings.json, or the directory cna run wrote it to)`,
        err,
      );
    throw new BadRankingsFileError(path, "", `${path}: cannot read: ${code ?? (err as Error).message}`, err);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // the parser's message quotes the text; say only where it failed
    throw new BadRankingsFileError(path, "", `${path}: not a rankings file: not JSON`, err);
  }
  const schema = (raw as { schema?: unknown } | null)?.schema;
  if (schema !== RANKINGS_SCHEMA)
    throw new BadRankingsFileError(
      path,
      "schema",
      `${path}: not a rankings file: its "schema" is not "${RANKINGS_SCHEMA}" (cna run and cna rankings --format json write one)`,
    );
  try {
    return { rankings: checkRankings(raw, path), text, path };
  } catch (err) {
    if (!(err instanceof ReportInputError)) throw err;
    const reason = err.message.slice(`${path}: ${err.field}: `.length);
    throw new BadRankingsFileError(path, err.field, `${path}: not a rankings file: ${err.field}: ${reason}`, err);
  }
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break; lists as JSON text. */
export function csvField(v: RowValue): string {
  if (v === null) return "";
  if (typeof v === "number") return String(v);
  const text = typeof v === "string" ? v : JSON.stringify(v);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A header line and one record per row, CRLF-terminated as RFC 4180 has it. */
export function toCsv(t: RowTable): string {
  const lines = [
    t.columns.map((c) => csvField(c.name)),
    ...t.rows.map((r) => t.columns.map((c) => csvField(r[c.name] ?? null))),
  ];
  return lines.map((fields) => `${fields.join(",")}\r\n`).join("");
}

export function toJsonl(t: RowTable): string {
  return t.rows
    .map((r) => `${JSON.stringify(Object.fromEntries(t.columns.map((c) => [c.name, r[c.name] ?? null])))}\n`)
    .join("");
}

/** Shown top tokens in the table format (CSV and JSONL carry all of them). */
const SHOWN_TOKENS = 5;

export function displayValue(c: Column, v: RowValue | undefined): string {
  if (v === null || v === undefined) return "";
  if (typeof v !== "number" && typeof v !== "string")
    return v
      .slice(0, SHOWN_TOKENS)
      .map((t) => JSON.stringify(t))
      .join(" ");
  if (typeof v === "string") return v;
  switch (c.display) {
    case "pct":
      return `${(100 * v).toFixed(1)}%`;
    case "num":
      return v.toFixed(3);
    case "int":
      return c.name === "sigma" && v > 0 ? `+${v}` : String(v);
    default:
      return String(v);
  }
}

/** Rows aligned in columns, rounded for reading; a top head that is no finding is marked "*" (see {@link TABLE_FOOTNOTE}). */
export function toTable(t: RowTable): string {
  const shown = t.columns.filter((c) => c.inTable);
  const right = new Set(shown.flatMap((c, i) => (c.display === "text" || c.display === "tokens" ? [] : [i])));
  const cell = (r: Row, c: Column) => {
    const text = displayValue(c, r[c.name]);
    return c.name === "topHead" && notAFinding(r.headBasis ?? null) ? `${text}*` : text;
  };
  const text = table(
    shown.map((c) => c.label),
    t.rows.map((r) => shown.map((c) => cell(r, c))),
    right,
  );
  return t.kind === "summary" && t.rows.some((r) => notAFinding(r.headBasis ?? null))
    ? `${text}\n${TABLE_FOOTNOTE}`
    : text;
}

export const TABLE_FOOTNOTE = `* not a finding (headBasis): ablating the head turns fewer than ${NOISE_CASES} cases wrong`;

/**
 * The text `cna rankings` writes, and how many rows it holds (null for the whole rankings.json);
 * `json` is the rankings.json text as received, written unchanged.
 */
export function renderRankings(
  rankings: Rankings,
  json: string,
  o: RankingsExportOptions,
): { text: string; rows: number | null } {
  if (o.format === "json" && o.kind === null) return { text: json.endsWith("\n") ? json : `${json}\n`, rows: null };
  const t = rankingsRows(rankings, o.kind ?? "summary", o.top);
  const text =
    o.format === "csv"
      ? toCsv(t)
      : o.format === "jsonl"
        ? toJsonl(t)
        : o.format === "json"
          ? `${JSON.stringify(t.rows, null, 2)}\n`
          : `${toTable(t)}\n`;
  return { text, rows: t.rows.length };
}

/** Renders and writes (see {@link writeRankingsOutput}); says so on stderr when no cell has items of the kind. */
export async function exportRankings(
  rankings: Rankings,
  json: string,
  o: RankingsExportOptions,
  source: string,
  io: CliIo,
): Promise<void> {
  const { text, rows } = renderRankings(rankings, json, o);
  await writeRankingsOutput(text, o, io);
  if (rows === 0) io.stderr.write(`cna: ${source} has no ${o.kind ?? "summary"} rows (no cell ran that stage)\n`);
}

/** Writes the output to --out (atomically) or to stdout. */
export async function writeRankingsOutput(text: string, o: RankingsExportOptions, io: CliIo): Promise<void> {
  if (o.outPath === null) {
    io.stdout.write(text);
    return;
  }
  await prepareOutput(o.outPath);
  await writeTextAtomic(o.outPath, text);
  io.stderr.write(`cna: wrote ${o.outPath}\n`);
}
