/**
 * Sweep files: the broken files under test/fixtures/bad-sweeps/ (each names in its header the
 * field and message text it must produce), defaults, model lists, cell order, the examples, and
 * agreement between the parser and schemas/sweep.schema.json. A bad file's header:
 *
 *   # expect-field: verify.ks[2]          the SpecError's field
 *   # expect-message: strictly increasing  (repeatable) text its message must contain
 *   # schema: rejects [at /pointer]        the schema rejects it too, at the field, its parent or /pointer
 *   # schema: accepts: <why>               a rule JSON Schema cannot state; only the parser enforces it
 *   # schema: not-yaml                     not a YAML document, so no schema check applies
 */
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ErrorObject } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { SpecError } from "../../core/errors.ts";
import {
  CNA_TARGETS,
  EXECUTION_PROVIDERS,
  LIMITS,
  SWEEP_DEFAULTS,
  SWEEP_FIELDS,
  cellsOf,
  parseHeadRef,
  resolveSweep,
} from "../../core/spec.ts";
import type { SweepSpec } from "../../core/spec.ts";
import { parseSweep } from "../../core/spec-yaml.ts";
import { STAGES } from "../../core/shards.ts";
import { OPERATORS, parseDigits, parseTemplate } from "../../core/tasks.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BAD_DIR = `${ROOT}test/fixtures/bad-sweeps/`;
const EXAMPLES_DIR = `${ROOT}examples/`;

/** The zoo as `cna` would list ../models (in file-system order, not sorted); other roots are empty. */
const ZOO = ["arith-2l-d64", "arith-3l-d96", "arith-4l-d128"];
const listModelDirs = (root: string) =>
  root === "../models" ? [ZOO[1]!, ZOO[2]!, ZOO[0]!].map((n) => `${root}/${n}`) : [];

interface BadSweep {
  file: string;
  text: string;
  field: string;
  messages: string[];
  schema: { verdict: "rejects"; at?: string } | { verdict: "accepts"; why: string } | { verdict: "not-yaml" };
}

function readDir(dir: string): Array<{ file: string; text: string }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => ({ file, text: readFileSync(dir + file, "utf8") }));
}

function badSweeps(): BadSweep[] {
  return readDir(BAD_DIR).map(({ file, text }) => {
    const header = (key: string) => [...text.matchAll(new RegExp(`^# ${key}: (.*)$`, "gm"))].map((m) => m[1]!.trim());
    const [field] = header("expect-field");
    const [line] = header("schema");
    if (field === undefined || line === undefined)
      throw new Error(`${file}: the header needs "# expect-field:" and "# schema:"`);
    const rejects = /^rejects(?: at (\/\S*))?$/.exec(line);
    const accepts = /^accepts: (.+)$/.exec(line);
    let schema: BadSweep["schema"];
    if (rejects) schema = rejects[1] ? { verdict: "rejects", at: rejects[1] } : { verdict: "rejects" };
    else if (accepts) schema = { verdict: "accepts", why: accepts[1]! };
    else if (line === "not-yaml") schema = { verdict: "not-yaml" };
    else throw new Error(`${file}: unknown "# schema:" line ${JSON.stringify(line)}`);
    return { file, text, field, messages: header("expect-message"), schema };
  });
}

function thrown(f: () => unknown): SpecError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    return err as SpecError;
  }
  throw new Error("expected a SpecError, nothing was thrown");
}

const parse = (text: string, fileName = "t.yaml") => parseSweep(text, { fileName, listModelDirs });
const MIN = "name: s\nmodels: [{ path: ../models/arith-2l-d64 }]\n";

describe("bad sweep files", () => {
  const bad = badSweeps();

  it("cover at least the dozen failures the spec promises", () => {
    expect(bad.length).toBeGreaterThanOrEqual(12);
  });

  it.each(bad.map((b) => [b.file, b] as const))("%s fails with its field and the allowed values", (_, b) => {
    const err = thrown(() => parse(b.text, b.file));
    expect(err.code).toBe("BAD_SPEC");
    expect(err.retryable).toBe(false);
    expect(err.field).toBe(b.field);
    expect(err.message.startsWith(`${b.file}:`)).toBe(true);
    for (const text of b.messages) expect(err.message).toContain(text);
  });
});

describe("resolving a sweep", () => {
  it("fills every default into unit-suffixed, required fields", () => {
    expect(parse(MIN)).toEqual<SweepSpec>({
      name: "s",
      seed: 0,
      models: [{ id: "arith-2l-d64", path: "../models/arith-2l-d64" }],
      operators: ["+", "-", "*", "/"],
      digits: [1],
      templates: [4],
      cases: { pairsPerCell: 100, seed: 0 },
      stages: ["head-ablation", "cna", "verify"],
      cna: { topK: 100, head: null, target: "predicted" },
      verify: { ks: [10, 20, 30, 50, 99], seed: 1234 },
      shard: { pairsPerShard: 32, maxAttempts: 5 },
      execution: { provider: "cpu" },
    });
  });

  it("takes cases.seed from the top-level seed unless given", () => {
    expect(parse(`${MIN}seed: 9\n`).cases.seed).toBe(9);
    expect(parse(`${MIN}seed: 9\ncases: { seed: 3 }\n`).cases.seed).toBe(3);
  });

  it("reads an empty section (all lines commented out) as all defaults", () => {
    const spec = parse(`${MIN}cna:\nverify:\nshard:\nexecution:\ncases:\n`);
    expect(spec.cna).toEqual({ topK: 100, head: null, target: "predicted" });
    expect(spec.shard).toEqual({ pairsPerShard: 32, maxAttempts: 5 });
  });

  it("puts lists in canonical order, whatever order and spelling the file uses", () => {
    const spec = parse(
      `${MIN}operators: ["/", "+"]\ndigits: [3D, 1, "2d"]\ntemplates: ["4", 3]\nstages: [verify, cna, attribution, head-ablation]\n`,
    );
    expect(spec.operators).toEqual(["+", "/"]);
    expect(spec.digits).toEqual([1, 2, 3]);
    expect(spec.templates).toEqual([3, 4]);
    expect(spec.stages).toEqual(["head-ablation", "attribution", "cna", "verify"]);
  });

  it('treats 1 and "1D" as the same digit range', () => {
    expect(thrown(() => parse(`${MIN}digits: [1, 1D]\n`)).field).toBe("digits[1]");
  });

  it("runs cna without head ablation when cna.head fixes the head", () => {
    const spec = parse(`${MIN}stages: [cna, verify]\ncna: { head: "1.3", target: correct, topK: 99 }\n`);
    expect(spec.stages).toEqual(["cna", "verify"]);
    expect(spec.cna).toEqual({ topK: 99, head: { layer: 1, head: 3 }, target: "correct" });
  });

  it('accepts sample "all" and a sample up to the smallest 2D cell', () => {
    expect(parse(`${MIN}digits: [2]\ncases: { sample: all }\n`).cases.pairsPerCell).toBe("all");
    expect(parse(`${MIN}digits: [2]\ncases: { sample: 8100 }\n`).cases.pairsPerCell).toBe(8100);
    expect(thrown(() => parse(`${MIN}digits: [2]\ncases: { sample: 8101 }\n`)).field).toBe("cases.sample");
  });

  it("names cna.topK when the default ks exceed a lowered topK", () => {
    const err = thrown(() => parse(`${MIN}cna: { topK: 50 }\n`));
    expect(err.field).toBe("cna.topK");
    expect(err.message).toContain("at least 99");
    expect(parse(`${MIN}cna: { topK: 50 }\nstages: [head-ablation]\n`).cna.topK).toBe(50);
  });

  it("puts the file, line and column of the offending field in front of the message", () => {
    const err = thrown(() => parse(`${MIN}verify:\n  ks: [10, 30, 20]\n`, "q.yaml"));
    expect(err.message).toMatch(/^q\.yaml:4:16: verify\.ks\[2\] must be greater than verify\.ks\[1\] \(30\)/);
    expect(thrown(() => parse(`${MIN}shard:\n  maxAtempts: 3\n`)).message).toMatch(
      /^t\.yaml:4:3: unknown field "maxAtempts" in shard \(did you mean "maxAttempts"\?\)/,
    );
  });

  it("points a misplaced section field to its section", () => {
    const err = thrown(() => parse(`${MIN}topK: 5\n`));
    expect(err.field).toBe("topK");
    expect(err.message).toContain(`did you mean "cna.topK"?`);
  });

  it("refuses an empty file and a file that is not a mapping", () => {
    expect(thrown(() => parse("")).field).toBe("sweep");
    expect(thrown(() => parse("# only a comment\n")).message).toContain("needs at least name and models");
    expect(thrown(() => parse("- a\n- b\n")).field).toBe("sweep");
    expect(thrown(() => parse(`${MIN}x: *nowhere\n`)).field).toBe("yaml");
  });

  it("resolves an already-parsed object the same way (JSON over the wire)", () => {
    expect(resolveSweep(parseYaml(MIN), { listModelDirs })).toEqual(parse(MIN));
    expect(thrown(() => resolveSweep({ name: "s", models: [{ path: "a" }], shard: { pairs: 1.5 } })).field).toBe(
      "shard.pairs",
    );
  });
});

describe("models", () => {
  it("defaults an id to the directory name, trailing slash or not", () => {
    const spec = parse(
      "name: s\nmodels:\n  - path: /data/hf/gpt2/\n  - { id: big, path: 'C:\\models\\gpt2-xl' }\n  - path: ../models/arith-2l-d64\n",
    );
    expect(spec.models.map((m) => m.id)).toEqual(["gpt2", "big", "arith-2l-d64"]);
    expect(spec.models[0]!.path).toBe("/data/hf/gpt2/");
  });

  it("expands modelRoot through the caller's listing, sorted by id, after the models list", () => {
    const spec = parse("name: s\nmodels: [{ id: gpt2, path: /hf/gpt2 }]\nmodelRoot: ../models\n");
    expect(spec.models).toEqual([
      { id: "gpt2", path: "/hf/gpt2" },
      ...ZOO.map((id) => ({ id, path: `../models/${id}` })),
    ]);
  });

  it("names modelRoot when an id there repeats one from models", () => {
    const err = thrown(() => parse("name: s\nmodels: [{ id: arith-3l-d96, path: /x }]\nmodelRoot: ../models\n"));
    expect(err.field).toBe("modelRoot");
    expect(err.message).toContain("already used by models[0]");
  });

  it("refuses modelRoot where no listing is available, and wraps a failed listing", () => {
    expect(thrown(() => parseSweep("name: s\nmodelRoot: ../models\n")).field).toBe("modelRoot");
    const cause = new Error("ENOENT: no such directory");
    const err = thrown(() =>
      parseSweep("name: s\nmodelRoot: /gone\n", {
        listModelDirs: () => {
          throw cause;
        },
      }),
    );
    expect(err.field).toBe("modelRoot");
    expect(err.message).toContain("ENOENT");
    expect(err.cause).toBe(cause);
  });
});

describe("cellsOf", () => {
  it("lists model × operator × digits × template, models in spec order, the rest ascending", () => {
    const spec = parse(
      "name: s\nmodels: [{ path: /m/zeta }, { path: /m/alpha }]\noperators: ['*', '+']\ndigits: [2, 1]\ntemplates: [4, 3]\n",
    );
    const cells = cellsOf(spec);
    expect(cells).toHaveLength(2 * 2 * 2 * 2);
    expect(cells.slice(0, 5)).toEqual([
      { model: "zeta", op: "+", digits: 1, template: 3 },
      { model: "zeta", op: "+", digits: 1, template: 4 },
      { model: "zeta", op: "+", digits: 2, template: 3 },
      { model: "zeta", op: "+", digits: 2, template: 4 },
      { model: "zeta", op: "*", digits: 1, template: 3 },
    ]);
    expect(cells[8]).toEqual({ model: "alpha", op: "+", digits: 1, template: 3 });
    expect(new Set(cells.map((c) => JSON.stringify(c))).size).toBe(cells.length);
  });
});

describe("examples", () => {
  it("zoo-quick runs the whole zoo, four operators, 1D, template 4, three stages", () => {
    const spec = parse(readFileSync(`${EXAMPLES_DIR}zoo-quick.yaml`, "utf8"), "zoo-quick.yaml");
    expect(spec.name).toBe("zoo-quick");
    expect(spec.models.map((m) => m.id)).toEqual(ZOO);
    expect(spec.operators).toEqual(["+", "-", "*", "/"]);
    expect(spec.digits).toEqual([1]);
    expect(spec.templates).toEqual([4]);
    expect(spec.stages).toEqual(["head-ablation", "cna", "verify"]);
    expect(cellsOf(spec)).toHaveLength(3 * 4);
  });

  it("cross-model sweeps several models, 1D-3D, templates 3 and 4, 500 pairs", () => {
    const spec = parse(readFileSync(`${EXAMPLES_DIR}cross-model.yaml`, "utf8"), "cross-model.yaml");
    expect(spec.models.map((m) => m.id)).toEqual(["arith-2l", "arith-3l", "arith-4l-d128"]);
    expect(spec.digits).toEqual([1, 2, 3]);
    expect(spec.templates).toEqual([3, 4]);
    expect(spec.cases.pairsPerCell).toBe(500);
    expect(spec.stages).toEqual(STAGES);
    expect(cellsOf(spec)).toHaveLength(3 * 4 * 3 * 2);
  });
});

describe("parseHeadRef", () => {
  it("reads L17H22 and the older L.H, 0-based, and refuses numbers YAML made of it", () => {
    expect(parseHeadRef("17.22")).toEqual({ layer: 17, head: 22 });
    expect(parseHeadRef("0.0", "--head")).toEqual({ layer: 0, head: 0 });
    expect(thrown(() => parseHeadRef(1.1, "--head")).field).toBe("--head");
    expect(thrown(() => parseHeadRef("17_22")).message).toContain(`"L17H22"`);
    expect(parseHeadRef("L17H22")).toEqual({ layer: 17, head: 22 });
  });
});

describe("schemas/sweep.schema.json agrees with the parser", () => {
  const schema = JSON.parse(readFileSync(`${ROOT}schemas/sweep.schema.json`, "utf8"));
  const validate = new Ajv2020({ allErrors: true }).compile(schema);
  const errorsOf = (value: unknown): ErrorObject[] => (validate(value) ? [] : [...(validate.errors ?? [])]);
  /** Where an error points: the value, or the property a `required`/`additionalProperties` names. */
  const pointers = (errors: ErrorObject[]) =>
    errors.map((e) => {
      const prop = e.params as { missingProperty?: string; additionalProperty?: string };
      const name = prop.missingProperty ?? prop.additionalProperty;
      return name === undefined ? e.instancePath : `${e.instancePath}/${name}`;
    });
  const pointerOf = (field: string) =>
    field
      .replace(/\[(\d+)\]/g, ".$1")
      .split(".")
      .map((s) => `/${s}`)
      .join("");

  it.each(readDir(EXAMPLES_DIR).map((e) => [e.file, e.text] as const))("both accept example %s", (file, text) => {
    expect(errorsOf(parseYaml(text))).toEqual([]);
    expect(() => parse(text, file)).not.toThrow();
  });

  it.each(
    badSweeps()
      .filter((b) => b.schema.verdict !== "not-yaml")
      .map((b) => [b.file, b] as const),
  )("agrees on %s", (_, b) => {
    const errors = errorsOf(parseYaml(b.text));
    if (b.schema.verdict === "accepts") {
      expect(errors).toEqual([]); // the header says why only the parser can catch it
      return;
    }
    const field = pointerOf(b.field);
    const at =
      b.schema.verdict === "rejects" && b.schema.at !== undefined
        ? [b.schema.at]
        : [field, field.replace(/\/[^/]*$/, "")];
    expect(
      pointers(errors).some((p) => at.includes(p)),
      JSON.stringify(errors),
    ).toBe(true);
  });

  it("accepts and resolves the forms the parser accepts", () => {
    const variants = [
      `${MIN}cna:\nverify:\nshard:\nexecution:\ncases:\n`,
      `${MIN}digits: [1D, "2", 3]\ntemplates: ["1", 2]\n`,
      `${MIN}stages: [cna]\ncna: { head: " 3.1 " }\n`,
      `${MIN}digits: [3]\ncases: { sample: all, seed: 4294967295 }\n`,
      "name: root-only\nmodelRoot: ../models\n",
      "name: s\nmodels: [{ id: a_b-1, path: x }]\nstages: [attribution]\n",
    ];
    for (const text of variants) {
      expect(errorsOf(parseYaml(text)), text).toEqual([]);
      expect(() => parse(text), text).not.toThrow();
    }
  });

  it("states the parser's defaults", () => {
    const props = schema.properties;
    for (const key of ["seed", "operators", "digits", "templates", "stages"] as const) {
      expect(props[key].default, key).toEqual(SWEEP_DEFAULTS[key]);
    }
    for (const section of ["cases", "cna", "verify", "shard", "execution"] as const) {
      const defaults = Object.fromEntries(
        Object.entries(props[section].properties).flatMap(([k, v]) =>
          "default" in (v as object) ? [[k, (v as { default: unknown }).default]] : [],
        ),
      );
      expect(defaults, section).toEqual(SWEEP_DEFAULTS[section]);
    }
  });

  it("allows the parser's fields, values and limits", () => {
    const props = schema.properties;
    expect(Object.keys(props)).toEqual(SWEEP_FIELDS[""]);
    expect(Object.keys(props.models.items.properties)).toEqual(SWEEP_FIELDS["models[]"]);
    for (const section of ["cases", "cna", "verify", "shard", "execution"] as const) {
      expect(Object.keys(props[section].properties), section).toEqual(SWEEP_FIELDS[section]);
    }
    expect(props.operators.items.enum).toEqual(OPERATORS);
    expect(props.stages.items.enum).toEqual(STAGES);
    expect(props.cna.properties.target.enum).toEqual(CNA_TARGETS);
    expect(props.execution.properties.provider.enum).toEqual(EXECUTION_PROVIDERS);
    for (const d of props.digits.items.enum) expect(() => parseDigits(d)).not.toThrow();
    for (const t of props.templates.items.enum) expect(() => parseTemplate(t)).not.toThrow();
    expect(props.cna.properties.topK.maximum).toBe(LIMITS.topK);
    expect(props.verify.properties.ks.items.maximum).toBe(LIMITS.k);
    expect(props.shard.properties.pairs.maximum).toBe(LIMITS.pairsPerShard);
    expect(props.shard.properties.maxAttempts.maximum).toBe(LIMITS.maxAttempts);
  });
});
