/**
 * Sweep files are YAML. This turns the text into a {@link SweepSpec} and puts the file name, line
 * and column in front of every error message (`sweep.yaml:7:9: verify.ks[2] must be ...`); the
 * error's `field` stays the bare path, for programs. Pure: the caller reads the file.
 */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument } from "yaml";
import type { Document, Node } from "yaml";
import { SpecError } from "./errors.ts";
import { DEFAULT_SWEEP_LIMITS, LIMIT_FLAGS, LimitExceededError, checkLimit } from "./limits.ts";
import { scanYaml } from "./yaml-scan.ts";
import type { SweepLimits } from "./limits.ts";
import { resolveSweep } from "./spec.ts";
import type { ResolveSweepOptions, SweepSpec } from "./spec.ts";

export interface ParseSweepOptions extends ResolveSweepOptions {
  /** How messages name the file, e.g. "examples/zoo-quick.yaml". Default "sweep.yaml". */
  fileName?: string;
  /** size, depth and alias bounds on the text (default {@link DEFAULT_SWEEP_LIMITS}) */
  limits?: SweepLimits;
}

/**
 * Parses and resolves a sweep file. Throws {@link SpecError}: field "yaml" for text that is not
 * one well-formed YAML document, otherwise the path of the offending field.
 */
export function parseSweep(text: string, options: ParseSweepOptions = {}): SweepSpec {
  const file = options.fileName ?? "sweep.yaml";
  const limits = options.limits ?? DEFAULT_SWEEP_LIMITS;
  // bounds first, on the raw text: the parser is what an oversized or deeply nested text attacks
  const bytes = new TextEncoder().encode(text).length;
  checkLimit(limits, "maxSweepBytes", bytes, `${file}: the sweep file has ${bytes} bytes`);
  const scan = scanYaml(text, limits.maxYamlDepth);
  if (!scan.withinDepth) throw tooDeep(file, limits);
  checkLimit(limits, "maxYamlAliases", scan.aliases, `${file}: the sweep file has ${scan.aliases} aliases`);
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
  // the scan bounds the depth loosely (enough to compose safely); this is the limit itself
  if (composedDepth(doc.contents) > limits.maxYamlDepth) throw tooDeep(file, limits);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: limits.maxYamlAliases });
  } catch (err) {
    if (/alias count/i.test(String((err as Error).message))) {
      throw new LimitExceededError(
        "maxYamlAliases",
        `${file}: the sweep file's aliases expand beyond ${limits.maxYamlAliases} nodes each (--max-yaml-aliases raises it)`,
      );
    }
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

function tooDeep(file: string, limits: SweepLimits): LimitExceededError {
  return new LimitExceededError(
    "maxYamlDepth",
    `${file}: the sweep file nests mappings and lists deeper than the limit of ${limits.maxYamlDepth} levels (${LIMIT_FLAGS.maxYamlDepth} raises it)`,
  );
}

/** Nesting depth of a composed document (mappings and lists), walked without recursion. */
function composedDepth(root: Node | null): number {
  let depth = 0;
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [node, d] = stack.pop()!;
    if (isMap(node) || isSeq(node)) {
      depth = Math.max(depth, d);
      for (const item of node.items) stack.push([item, d + 1]);
    } else if (isPair(node)) {
      stack.push([node.key, d], [node.value, d]);
    }
  }
  return depth;
}

/**
 * Where a field path points in the text: the key of a mapping field, the item of a list; for a
 * missing field, the mapping that lacks it.
 */
function locate(doc: Document, field: string): number | undefined {
  const segments = [...field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] === undefined ? m[1]! : Number(m[2])));
  let node = doc.contents;
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
