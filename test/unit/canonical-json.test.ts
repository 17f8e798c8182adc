/**
 * canonicalJson is what every shard id hashes: a faster writing of it must give the very same
 * text for every value, or every stored result would stop matching its shard.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../core/shards.ts";

/** The first writing of canonicalJson, kept here as the reference. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

describe("canonicalJson", () => {
  it("writes the same text as the reference for any JSON-like value, undefined members included", () => {
    const values = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.constantFrom(null, undefined, true, false, 0, -0, 1.5, 1e21, Number.NaN),
        fc.integer(),
        fc.double(),
        fc.string({ unit: "binary" }),
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(fc.string({ unit: "binary", maxLength: 4 }), tie("value"), { maxKeys: 5 }),
      ),
    })).value;
    fc.assert(
      fc.property(values, (v) => canonicalJson(v) === reference(v)),
      { numRuns: 2000 },
    );
  });

  it("sorts keys by code unit and leaves undefined properties out", () => {
    expect(canonicalJson({ b: 1, a: [undefined, 2], é: { z: undefined, y: "x" }, Z: null })).toBe(
      '{"Z":null,"a":[,2],"b":1,"é":{"y":"x"}}',
    );
  });
});
