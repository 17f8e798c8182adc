/**
 * Property-based fuzzing of the sweep-file parser (core/spec-yaml.ts, core/spec.ts) with
 * fast-check: generated texts, generated YAML/JSON objects built from the schema's own field
 * names, and mutations of the example sweep files. Whatever the input, parseSweep either returns
 * a spec or throws a CnaError with a stable code (BAD_SPEC or LIMIT_EXCEEDED) whose message
 * starts with the file name; it never throws anything else (a TypeError is a bug), and a spec it
 * returns parses again to the same spec. Runs are seeded (FUZZ_SEED overrides), so a failure
 * replays; fast-check prints the seed and the shrunk counterexample.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { CnaError } from "../../core/errors.ts";
import { SWEEP_FIELDS, resolveSweep } from "../../core/spec.ts";
import { parseSweep } from "../../core/spec-yaml.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_204);
const RUNS = 300;
const EXAMPLES_DIR = join(import.meta.dirname, "..", "..", "examples");
const EXAMPLES = readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => readFileSync(join(EXAMPLES_DIR, f), "utf8"));
const FILE = "fuzz.yaml";
const options = { fileName: FILE, listModelDirs: (root: string) => [`${root}/m-a`, `${root}/m-b`] };

/** Parses, and checks the outcome is a spec or a named refusal; returns the spec or null. */
function parsesOrRefuses(text: string): ReturnType<typeof parseSweep> | null {
  try {
    return parseSweep(text, options);
  } catch (err) {
    if (!(err instanceof CnaError)) throw new Error(`not a CnaError: ${String(err)}`, { cause: err });
    expect(["BAD_SPEC", "LIMIT_EXCEEDED"]).toContain(err.code);
    expect(err.message.startsWith(FILE)).toBe(true);
    return null;
  }
}

/** A parsed spec is a fixed point: its text parses to the same spec. Counts the texts that parsed. */
function stable(text: string, parsed: { count: number }): void {
  const spec = parsesOrRefuses(text);
  if (!spec) return;
  parsed.count++;
  expect(parseSweep(text, options)).toEqual(spec);
}

// values a sweep field could plausibly hold, and the wrong kinds of value next to them
const scalar = fc.oneof(
  fc.integer({ min: -5, max: 70_000 }),
  fc.constantFrom(0, 1, 2, 3, 4, 32, 99, 100, "all", "1D", "2D", "3D", "+", "-", "*", "/", "1.3", "L1H3", "9.1", "x"),
  fc.constantFrom("predicted", "correct", "cpu", "cuda", "head-ablation", "cna", "verify", "attribution"),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 12 }),
);
const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 6 }), fc.dictionary(fc.string({ maxLength: 6 }), scalar));
const sectionOf = (keys: readonly string[]) =>
  fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 6 })), value, { maxKeys: 4 });
const model = fc.oneof(
  fc.record(
    { id: fc.oneof(fc.constantFrom("m1", "m2", "A", ""), fc.string({ maxLength: 8 })), path: scalar },
    {
      requiredKeys: [],
    },
  ),
  scalar,
);
/** Mostly a valid value (`good`), sometimes a wrong one: so that many generated files are sweeps, and each refusal is near one. */
const mostly = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: value });
const someOf = <T>(items: readonly T[]) => fc.subarray([...items], { minLength: 1 });
const section = <T>(good: fc.Arbitrary<T>, keys: readonly string[]) =>
  fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: sectionOf(keys) }, { weight: 1, arbitrary: scalar });
/** A top-level mapping made of the schema's fields (and some that are not), each with a plausible or wrong value. */
const sweepObject = fc.record(
  {
    name: fc.oneof({ weight: 5, arbitrary: fc.constantFrom("fuzz", "a-b_c", "z9") }, { weight: 1, arbitrary: scalar }),
    seed: mostly(fc.nat()),
    models: fc.oneof(
      {
        weight: 5,
        arbitrary: fc
          .uniqueArray(fc.constantFrom("m1", "m2", "m3"), { minLength: 1, maxLength: 3 })
          .map((ids) => ids.map((id) => ({ id, path: `models/${id}` }))),
      },
      { weight: 1, arbitrary: fc.array(model, { maxLength: 3 }) },
      { weight: 1, arbitrary: scalar },
    ),
    modelRoot: fc.oneof(fc.constant("models"), scalar),
    operators: mostly(someOf(["+", "-", "*", "/"])),
    digits: mostly(someOf([1, 2, 3, "1D", "2D"])),
    templates: mostly(someOf([1, 2, 3, 4])),
    cases: section(
      fc.record(
        { sample: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constant("all")), seed: fc.nat() },
        { requiredKeys: [] },
      ),
      SWEEP_FIELDS.cases,
    ),
    stages: mostly(someOf(["head-ablation", "attribution", "cna", "verify"])),
    cna: section(
      fc.record(
        {
          topK: fc.integer({ min: 1, max: 200 }),
          target: fc.constantFrom("predicted", "correct"),
          head: fc.constantFrom("0.0", "L1H1", "1.3"),
        },
        { requiredKeys: [] },
      ),
      SWEEP_FIELDS.cna,
    ),
    verify: section(
      fc.record(
        {
          ks: fc
            .uniqueArray(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 5 })
            .map((ks) => ks.sort((a, b) => a - b)),
          seed: fc.nat(),
        },
        { requiredKeys: [] },
      ),
      SWEEP_FIELDS.verify,
    ),
    shard: section(
      fc.record(
        { pairs: fc.integer({ min: 1, max: 64 }), maxAttempts: fc.integer({ min: 1, max: 10 }) },
        { requiredKeys: [] },
      ),
      SWEEP_FIELDS.shard,
    ),
    execution: section(fc.record({ provider: fc.constantFrom("cpu", "cuda") }), SWEEP_FIELDS.execution),
    extra: value,
  },
  { requiredKeys: ["name", "models"] },
);

/** An edit of a text: cut a range, insert text, repeat or drop a line, or replace a value after a key. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat(), length: fc.nat({ max: 40 }) }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    text: fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom(": ", "- ", "\n  ", "[", "]", "{", "&a ", "*a", "!!binary ", "? ", "\t", "\u0000"),
    ),
  }),
  fc.record({ kind: fc.constant("line" as const), at: fc.nat(), repeat: fc.boolean() }),
  fc.record({ kind: fc.constant("value" as const), at: fc.nat(), text: scalar.map((v) => JSON.stringify(v) ?? "~") }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(text: string, m: Mutation): string {
  const at = text.length === 0 ? 0 : m.at % text.length;
  switch (m.kind) {
    case "cut":
      return text.slice(0, at) + text.slice(at + m.length);
    case "insert":
      return text.slice(0, at) + m.text + text.slice(at);
    case "line": {
      const lines = text.split("\n");
      const i = m.at % lines.length;
      lines.splice(i, m.repeat ? 0 : 1, ...(m.repeat ? [lines[i]!] : []));
      return lines.join("\n");
    }
    case "value": {
      const keys = [...text.matchAll(/^\s*[A-Za-z]+:[ \t]*(?=\S)/gm)];
      if (keys.length === 0) return text;
      const key = keys[m.at % keys.length]!;
      const start = key.index + key[0].length;
      const end = text.indexOf("\n", start);
      return text.slice(0, start) + m.text + (end < 0 ? "" : text.slice(end));
    }
  }
}

const params = (runs = RUNS) => ({ seed: SEED, numRuns: runs, endOnFailure: true });

describe("parseSweep under fuzzing", () => {
  it("any text: a spec or BAD_SPEC/LIMIT_EXCEEDED, never another error", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: "binary", maxLength: 200 })), (text) => {
        parsesOrRefuses(text);
      }),
      params(),
    );
  });

  it("generated sweep objects, written as YAML and as JSON", () => {
    const parsed = { count: 0 };
    fc.assert(
      fc.property(sweepObject, fc.boolean(), (object, asJson) => {
        stable(asJson ? JSON.stringify(object) : stringify(object), parsed);
      }),
      params(),
    );
    // and not only refusals: some generated objects are sweeps
    expect(parsed.count).toBeGreaterThan(0);
  });

  it("generated values given to resolveSweep directly: a spec or a SpecError", () => {
    fc.assert(
      fc.property(fc.oneof(sweepObject, fc.anything({ maxDepth: 3 })), (object) => {
        try {
          resolveSweep(object, options);
        } catch (err) {
          if (!(err instanceof CnaError)) throw new Error(`not a CnaError: ${String(err)}`, { cause: err });
          expect(err.code).toBe("BAD_SPEC");
        }
      }),
      params(),
    );
  });

  it("the example sweep files, mutated one to four times", () => {
    const parsed = { count: 0 };
    fc.assert(
      fc.property(fc.constantFrom(...EXAMPLES), fc.array(mutation, { minLength: 1, maxLength: 4 }), (text, edits) => {
        stable(edits.reduce(mutate, text), parsed);
      }),
      params(),
    );
    expect(parsed.count).toBeGreaterThan(RUNS / 10); // many edits (in comments, of values) leave a sweep
  });

  it("the example files themselves parse", () => {
    for (const text of EXAMPLES) expect(parsesOrRefuses(text)).not.toBeNull();
  });
});
