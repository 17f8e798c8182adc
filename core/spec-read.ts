/**
 * Readers for sweep-file values. Each checks one value and throws a {@link SpecError} whose
 * `field` is the value's path in the file (`models[1].path`, `verify.ks[2]`) and whose message
 * says what is allowed, so a user can fix the file without reading code.
 */
import { SpecError, describeValue, formatAllowed } from "./errors.ts";

/** A YAML mapping after parsing: field name → value. */
export type Fields = Record<string, unknown>;

export const UINT32_MAX = 0xffff_ffff;

/** The path of a mapping's field; the file's top level is the empty path. */
export function fieldPath(parent: string, key: string): string {
  return parent === "" ? key : `${parent}.${key}`;
}

export function itemPath(list: string, index: number): string {
  return `${list}[${index}]`;
}

function isMapping(value: unknown): value is Fields {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.getPrototypeOf(value) === Object.prototype
  );
}

/**
 * A mapping whose keys are all in `allowed`. An unknown key is almost always a typo, and a typo'd
 * optional field would otherwise silently fall back to its default, so it is an error naming the
 * key, the nearest allowed one and the full list. `elsewhere` maps keys that belong to another
 * mapping (`sample` at the top level) to where they go (`cases.sample`).
 */
export function readMapping(
  value: unknown,
  path: string,
  allowed: readonly string[],
  elsewhere: Readonly<Fields> = {},
): Fields {
  const what = path === "" ? "a sweep" : path;
  if (!isMapping(value)) {
    throw new SpecError(
      path === "" ? "sweep" : path,
      `${what} must be a mapping of fields (any of ${formatAllowed(allowed)}) (got ${describeValue(value)})`,
    );
  }
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const moved = Object.hasOwn(elsewhere, key) ? elsewhere[key] : undefined;
    const near = typeof moved === "string" ? moved : nearest(key, allowed);
    const hint = near === undefined ? "" : ` (did you mean ${JSON.stringify(near)}?)`;
    const where = path === "" ? "at the top level" : `in ${path}`;
    throw new SpecError(
      fieldPath(path, key),
      `unknown field ${JSON.stringify(key)} ${where}${hint}; the fields allowed here are any of ${formatAllowed(allowed)}`,
    );
  }
  return value;
}

/** An optional sub-mapping: absent or empty (`cna:` with every line commented out) means all defaults. */
export function readSection(parent: Fields, key: string, path: string, allowed: readonly string[]): Fields {
  const value = parent[key];
  return value === undefined || value === null ? {} : readMapping(value, fieldPath(path, key), allowed);
}

/** The allowed key closest to a typo: same letters ignoring case and `_`/`-`, or within 2 edits. */
function nearest(key: string, allowed: readonly string[]): string | undefined {
  const fold = (s: string) => s.toLowerCase().replace(/[-_]/g, "");
  const same = allowed.find((a) => fold(a) === fold(key));
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = key.length < 7 ? 1 : 2; // "seed" is not a typo of "head"
  for (const candidate of allowed) {
    const d = editDistance(fold(key), fold(candidate));
    if (d <= bestDistance && (best === undefined || d < bestDistance)) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** `fields[key]` read by `read`, or `fallback` when the key is absent. */
export function optional<T>(
  fields: Fields,
  key: string,
  path: string,
  fallback: T,
  read: (value: unknown, field: string) => T,
): T {
  const value = fields[key];
  return value === undefined ? fallback : read(value, fieldPath(path, key));
}

/** An integer in [min, max]; YAML `1.0` is the number 1 and passes, `"1"` and `1.5` do not. */
export function readInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) return value;
  throw new SpecError(field, `${field} must be an integer from ${min} to ${max} (got ${describeValue(value)})`);
}

export function readUint32(value: unknown, field: string): number {
  return readInteger(value, field, 0, UINT32_MAX);
}

export function readChoice<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw new SpecError(field, `${field} must be ${formatAllowed(allowed)} (got ${describeValue(value)})`);
}

export function readText(value: unknown, field: string, what: string): string {
  if (typeof value === "string" && value.trim() !== "") return value;
  throw new SpecError(field, `${field} must be ${what} (got ${describeValue(value)})`);
}

/**
 * A non-empty list read item by item. Repeats are errors (naming the second copy): a repeated
 * operator or stage is a mistake, not a request to run it twice. `identity` decides what counts
 * as the same item (`1` and `"1D"` are the same digit range).
 */
export function readList<T>(
  value: unknown,
  field: string,
  example: string,
  readItem: (item: unknown, path: string) => T,
  identity: (item: T) => unknown = (x) => x,
): T[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new SpecError(field, `${field} must be a non-empty list, e.g. ${example} (got ${describeValue(value)})`);
  }
  const out: T[] = [];
  const seen = new Map<unknown, number>();
  value.forEach((raw, i) => {
    const item = readItem(raw, itemPath(field, i));
    const first = seen.get(identity(item));
    if (first !== undefined) {
      throw new SpecError(
        itemPath(field, i),
        `${itemPath(field, i)} repeats ${itemPath(field, first)} (${describeValue(raw)}); list each value once`,
      );
    }
    seen.set(identity(item), i);
    out.push(item);
  });
  return out;
}

/** `items` in the order of `canonical`: resolved specs list operators, stages, ... one way only. */
export function inOrder<T>(items: readonly T[], canonical: readonly T[]): T[] {
  return canonical.filter((x) => items.includes(x));
}
