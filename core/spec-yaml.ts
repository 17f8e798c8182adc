/**
 * Sweep files are YAML. This turns the text into a {@link SweepSpec} and puts the file name, line
 * and column in front of every error message (`sweep.yaml:7:9: verify.ks[2] must be ...`); the
 * error's `field` stays the bare path, for programs. Pure: the caller reads the file.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from "yaml";
import type { Document, Node } from "yaml";
import { SpecError } from "./errors.ts";
import { resolveSweep } from "./spec.ts";
import type { ResolveSweepOptions, SweepSpec } from "./spec.ts";

export interface ParseSweepOptions extends ResolveSweepOptions {
  /** How messages name the file, e.g. "examples/zoo-quick.yaml". Default "sweep.yaml". */
  fileName?: string;
}

/**
 * Parses and resolves a sweep file. Throws {@link SpecError}: field "yaml" for text that is not
 * one well-formed YAML document, otherwise the path of the offending field.
 */
export function parseSweep(text: string, options: ParseSweepOptions = {}): SweepSpec {
  const file = options.fileName ?? "sweep.yaml";
  const lineCounter = new LineCounter();
  // uniqueKeys: a repeated key would otherwise silently keep only one of the two values.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const [line, col] = syntax.linePos ? [syntax.linePos[0].line, syntax.linePos[0].col] : [1, 1];
    // prettyErrors appends " at line L, column C:" and a caret excerpt; the position moves to the front.
    const detail = syntax.message.replace(/ at line \d+, column \d+:?/, "").trimEnd();
    throw new SpecError("yaml", `${file}:${line}:${col}: not valid YAML: ${detail}`, syntax);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    // An alias to a missing anchor, or an alias bomb.
    throw new SpecError("yaml", `${file}: not valid YAML: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  try {
    return resolveSweep(value, options);
  } catch (err) {
    if (!(err instanceof SpecError)) throw err;
    const offset = locate(doc, err.field);
    const at = offset === undefined ? "" : `:${lineCounter.linePos(offset).line}:${lineCounter.linePos(offset).col}`;
    throw new SpecError(err.field, `${file}${at}: ${err.message}`, err.cause);
  }
}

/**
 * Where a field path points in the text: the key of a mapping field, the item of a list; for a
 * missing field, the mapping that lacks it.
 */
function locate(doc: Document, field: string): number | undefined {
  const segments = [...field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] === undefined ? m[1]! : Number(m[2])));
  let node = doc.contents as Node | null;
  let offset = node?.range?.[0];
  for (const segment of segments) {
    if (isMap(node) && typeof segment === "string") {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof segment === "number" && segment < node.items.length) {
      node = node.items[segment] as Node | null;
      offset = node?.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset;
}
