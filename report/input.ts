/**
 * rankings.json as the report reads it, from a file or from the coordinator: the schema version is
 * checked (a reader refuses versions it does not know, schemas/rankings.schema.json) and so is the
 * shape of what the report draws, so a bad input fails with the field named.
 */
import { OPERATORS, RANKINGS_SCHEMA } from "../core/index.ts";
import type { Rankings } from "../core/index.ts";
import { ReportInputError } from "./errors.ts";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export function parseRankingsJson(text: string, source: string): Rankings {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ReportInputError(source, "", `not JSON: ${(err as Error).message}`, err);
  }
  return checkRankings(raw, source);
}

/** Checks the fields the report reads; returns the value typed. */
export function checkRankings(raw: unknown, source: string): Rankings {
  const fail = (field: string, message: string) => new ReportInputError(source, field, message);
  if (!isObj(raw)) throw fail("(root)", "expected an object");
  if (raw.schema !== RANKINGS_SCHEMA)
    throw fail(
      "schema",
      `expected "${RANKINGS_SCHEMA}" (got ${JSON.stringify(raw.schema)}); this version of cna cannot read it`,
    );
  if (!Array.isArray(raw.cells)) throw fail("cells", "expected an array");
  const numbers = (o: Obj, at: string, keys: readonly string[]) => {
    for (const k of keys) if (typeof o[k] !== "number") throw fail(`${at}.${k}`, "expected a number");
  };
  const items = (o: Obj, at: string, key: string, keys: readonly string[]): void => {
    if (o[key] === undefined) return;
    const list = o[key];
    if (!Array.isArray(list)) throw fail(`${at}.${key}`, "expected an array");
    list.forEach((item: unknown, i) => {
      if (!isObj(item)) throw fail(`${at}.${key}[${i}]`, "expected an object");
      numbers(item, `${at}.${key}[${i}]`, keys);
    });
  };
  raw.cells.forEach((cell: unknown, i) => {
    const at = `cells[${i}]`;
    if (!isObj(cell)) throw fail(at, "expected an object");
    if (typeof cell.model !== "string" || cell.model === "") throw fail(`${at}.model`, "expected a non-empty string");
    if (!(OPERATORS as readonly unknown[]).includes(cell.op))
      throw fail(`${at}.op`, `expected one of ${OPERATORS.join(" ")}`);
    numbers(cell, at, ["digits", "template", "cases", "baselineAccuracy"]);
    items(cell, at, "heads", ["layer", "head", "accuracy", "accuracyDrop", "relativeDrop", "meanProbCorrect"]);
    items(cell, at, "neurons", [
      "layer",
      "neuron",
      "cnaMean",
      "impOrigMean",
      "impAblatedMean",
      "coefOrigMean",
      "coefAblatedMean",
      "coefDeltaMean",
      "topKCount",
    ]);
    if (
      cell.headRankingBasis !== undefined &&
      !["accuracy", "within-noise", "meanProbCorrect-only"].includes(cell.headRankingBasis as string)
    ) {
      throw fail(`${at}.headRankingBasis`, "expected accuracy, within-noise or meanProbCorrect-only");
    }
    if (cell.ablatedHead !== undefined) {
      if (!isObj(cell.ablatedHead)) throw fail(`${at}.ablatedHead`, "expected an object");
      numbers(cell.ablatedHead, `${at}.ablatedHead`, ["layer", "head"]);
    }
    if (cell.attribution !== undefined) {
      const a = cell.attribution;
      const where = `${at}.attribution`;
      if (!isObj(a)) throw fail(where, "expected an object");
      numbers(a, where, ["topK"]);
      for (const [key, fields] of [
        ["neurons", ["layer", "neuron", "impMean", "topKCount"]],
        ["attnLayers", ["layer", "impMean"]],
        ["ffnLayers", ["layer", "impMean"]],
        ["heads", ["layer", "head", "impMean"]],
      ] as const) {
        if (!Array.isArray(a[key])) throw fail(`${where}.${key}`, "expected an array");
        items(a, where, key, [...fields]);
      }
    }
    if (cell.verification !== undefined) {
      const v = cell.verification;
      if (!isObj(v)) throw fail(`${at}.verification`, "expected an object");
      for (const s of ["mask", "keep", "random"]) {
        if (!Array.isArray(v[s])) throw fail(`${at}.verification.${s}`, "expected an array");
        items(v, `${at}.verification`, s, ["k", "accuracy", "relativeDecrease"]);
      }
    }
  });
  return raw as unknown as Rankings;
}
