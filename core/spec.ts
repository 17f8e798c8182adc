/**
 * The sweep spec: what a sweep file declares, its defaults, and its validation. The file form
 * ({@link SweepFile}, documented field by field in schemas/sweep.schema.json) is resolved once by
 * {@link resolveSweep} into a {@link SweepSpec} with every field present, lists in canonical
 * order and unit-suffixed names; everything downstream (planner, CLI, report) reads only that.
 * YAML text goes through `parseSweep` (spec-yaml.ts), which adds file positions to the errors.
 *
 * Pure: model roots are listed by a callback the caller supplies (it owns the file system).
 * Paths are kept as written; relative ones are relative to the sweep file's directory, and the
 * caller resolves them.
 */
import { SpecError, describeValue } from "./errors.ts";
import type { CellKey } from "./rankings.ts";
import { STAGES } from "./shards.ts"; // the stages in the order they run for a cell
import type { StageName } from "./shards.ts";
import {
  UINT32_MAX,
  fieldPath,
  inOrder,
  itemPath,
  optional,
  readChoice,
  readInteger,
  readList,
  readMapping,
  readSection,
  readText,
  readUint32,
} from "./spec-read.ts";
import type { Fields } from "./spec-read.ts";
import {
  DEFAULT_SAMPLE,
  DEFAULT_TEMPLATE,
  DIGIT_RANGES,
  OPERATORS,
  TEMPLATE_IDS,
  pairCount,
  parseDigits,
  parseOperator,
  parseTemplate,
} from "./tasks.ts";
import type { DigitRange, Operator, TemplateId } from "./tasks.ts";
import { headName, readHeadName, type HeadRef } from "./heads.ts";

/** The token whose log-probability neuron importance measures (docs/method.md §3). */
export type CnaTarget = "predicted" | "correct";
export const CNA_TARGETS: readonly CnaTarget[] = ["predicted", "correct"];
/** An ONNX Runtime execution provider this project runs on (the one list, used everywhere). */
export type Provider = "cpu" | "cuda";
export const EXECUTION_PROVIDERS: readonly Provider[] = ["cpu", "cuda"];

/** A sweep file as written: only `name` and some models are required. Mirrors the JSON Schema. */
export interface SweepFile {
  name: string;
  seed?: number;
  models?: Array<{ id?: string; path: string }>;
  modelRoot?: string;
  operators?: Operator[];
  digits?: Array<number | string>;
  templates?: Array<number | string>;
  cases?: { sample?: number | "all"; seed?: number } | null;
  stages?: StageName[];
  cna?: { topK?: number; head?: string; target?: CnaTarget } | null;
  verify?: { ks?: number[]; seed?: number } | null;
  shard?: { cases?: number; maxAttempts?: number } | null;
  execution?: { provider?: Provider } | null;
}

export interface SweepModel {
  /** Unique within the sweep; a NATS subject token and the `model` of every cell and ranking. */
  id: string;
  /** The model directory (HF layout), as written or as `listModelDirs` returned it. */
  path: string;
}

/** A resolved sweep: every field present, lists de-duplicated and in canonical order. */
export interface SweepSpec {
  name: string;
  seed: number;
  /** In file order: the `models` list, then the `modelRoot` directories sorted by id. */
  models: readonly SweepModel[];
  operators: readonly Operator[];
  digits: readonly DigitRange[];
  templates: readonly TemplateId[];
  /** Pairs per 2D/3D cell, or "all"; 1D cells always run every pair. `seed` picks the sample. */
  cases: { pairsPerCell: number | "all"; seed: number };
  stages: readonly StageName[];
  /** `head` null: each cell ablates its own top head from head ablation. */
  cna: { topK: number; head: HeadRef | null; target: CnaTarget };
  verify: { ks: readonly number[]; seed: number };
  /** Operand pairs per shard (each pair gives one case per answer token); cells split by pairs. */
  shard: { pairsPerShard: number; maxAttempts: number };
  execution: { provider: Provider };
}

/** Defaults of every optional field, in file form (the schema's `default`s say the same). */
export const SWEEP_DEFAULTS = {
  seed: 0,
  operators: OPERATORS,
  digits: [1] as readonly DigitRange[],
  templates: [DEFAULT_TEMPLATE] as readonly TemplateId[],
  cases: { sample: DEFAULT_SAMPLE },
  stages: ["head-ablation", "cna", "verify"] as readonly StageName[],
  cna: { topK: 100, target: "predicted" as CnaTarget },
  verify: { ks: [10, 20, 30, 50, 99] as readonly number[], seed: 1234 },
  shard: { pairs: 32, maxAttempts: 5 },
  execution: { provider: "cpu" as Provider },
} as const;

/** The fields each mapping of a sweep file may hold ("" is the top level, "models[]" an entry). */
export const SWEEP_FIELDS = {
  "": [
    "name",
    "seed",
    "models",
    "modelRoot",
    "operators",
    "digits",
    "templates",
    "cases",
    "stages",
    "cna",
    "verify",
    "shard",
    "execution",
  ],
  "models[]": ["id", "path"],
  cases: ["sample", "seed"],
  cna: ["topK", "head", "target"],
  verify: ["ks", "seed"],
  shard: ["pairs", "maxAttempts"],
  execution: ["provider"],
} as const satisfies Record<string, readonly string[]>;

export const LIMITS = { topK: 10_000, k: 10_000, pairsPerShard: 65_536, maxAttempts: 100, headIndex: 9_999 } as const;

/**
 * Sweep and model ids become NATS subject tokens (`cna.ns.<namespace>.shards.<sweep>.<model>`), where "." splits
 * tokens and "*" ">" are wildcards, and file names; hence lower-case letters, digits, "_" and "-".
 */
const ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ID_RULE = `1 to 63 characters from a-z, 0-9, "_" and "-", starting with a letter or digit (it is a NATS subject token, so no ".", "*", ">" or spaces)`;

export interface ResolveSweepOptions {
  /**
   * Lists the model directories under a `modelRoot` as written in the file: every subdirectory
   * holding a config.json, as paths the caller can open (join them with `root` so relative
   * stays relative to the sweep file). Needed only by files that use `modelRoot`.
   */
  listModelDirs?: (root: string) => readonly string[];
}

/** Resolves a parsed sweep file (YAML or JSON) into a {@link SweepSpec}; throws {@link SpecError}. */
export function resolveSweep(value: unknown, options: ResolveSweepOptions = {}): SweepSpec {
  if (value === null || value === undefined) {
    throw new SpecError("sweep", `the sweep is empty; it needs at least name and models (or modelRoot)`);
  }
  const top = readMapping(value, "", SWEEP_FIELDS[""], misplacedFields());
  if (top.name === undefined) throw new SpecError("name", `name is required: ${ID_RULE}`);
  const name = readId(top.name, "name");
  const seed = optional(top, "seed", "", SWEEP_DEFAULTS.seed, readUint32);
  const models = readModels(top, options);

  const operators = inOrder(
    optional(top, "operators", "", SWEEP_DEFAULTS.operators, (v, f) => readList(v, f, `["+", "-"]`, parseOperator)),
    OPERATORS,
  );
  const digits = inOrder(
    optional(top, "digits", "", SWEEP_DEFAULTS.digits, (v, f) => readList(v, f, `[1, 2]`, parseDigits)),
    DIGIT_RANGES,
  );
  const templates = inOrder(
    optional(top, "templates", "", SWEEP_DEFAULTS.templates, (v, f) => readList(v, f, `[4]`, parseTemplate)),
    TEMPLATE_IDS,
  );

  const casesIn = readSection(top, "cases", "", SWEEP_FIELDS.cases);
  const cases = {
    pairsPerCell: optional(casesIn, "sample", "cases", SWEEP_DEFAULTS.cases.sample as number | "all", (v, f) =>
      readSample(v, f, operators, digits),
    ),
    seed: optional(casesIn, "seed", "cases", seed, readUint32),
  };

  const cnaIn = readSection(top, "cna", "", SWEEP_FIELDS.cna);
  const cna = {
    topK: optional(cnaIn, "topK", "cna", SWEEP_DEFAULTS.cna.topK, (v, f) => readInteger(v, f, 1, LIMITS.topK)),
    head: optional<HeadRef | null>(cnaIn, "head", "cna", null, parseHeadRef),
    target: optional(cnaIn, "target", "cna", SWEEP_DEFAULTS.cna.target, (v, f) => readChoice(v, f, CNA_TARGETS)),
  };
  const stagesRaw = optional(top, "stages", "", SWEEP_DEFAULTS.stages, (v, f) =>
    readList(v, f, `["head-ablation", "cna", "verify"]`, (x, p) => readChoice(x, p, STAGES)),
  );
  checkStageInputs(stagesRaw, cna.head !== null);

  const verifyIn = readSection(top, "verify", "", SWEEP_FIELDS.verify);
  const verify = {
    ks: optional(verifyIn, "ks", "verify", SWEEP_DEFAULTS.verify.ks, readKs),
    seed: optional(verifyIn, "seed", "verify", SWEEP_DEFAULTS.verify.seed, readUint32),
  };
  if (stagesRaw.includes("verify")) checkKsWithinTopK(verify.ks, cna.topK, verifyIn.ks !== undefined);

  const shardIn = readSection(top, "shard", "", SWEEP_FIELDS.shard);
  const shard = {
    pairsPerShard: optional(shardIn, "pairs", "shard", SWEEP_DEFAULTS.shard.pairs, (v, f) =>
      readInteger(v, f, 1, LIMITS.pairsPerShard),
    ),
    maxAttempts: optional(shardIn, "maxAttempts", "shard", SWEEP_DEFAULTS.shard.maxAttempts, (v, f) =>
      readInteger(v, f, 1, LIMITS.maxAttempts),
    ),
  };
  const executionIn = readSection(top, "execution", "", SWEEP_FIELDS.execution);
  const execution = {
    provider: optional(executionIn, "provider", "execution", SWEEP_DEFAULTS.execution.provider, (v, f) =>
      readChoice(v, f, EXECUTION_PROVIDERS),
    ),
  };

  return {
    name,
    seed,
    models,
    operators,
    digits,
    templates,
    cases,
    stages: inOrder(stagesRaw, STAGES),
    cna,
    verify,
    shard,
    execution,
  };
}

/**
 * Every cell of a sweep in canonical order: model (spec order), then operator (+ - * /), digit
 * range (1, 2, 3), template (1–4). Shard ids, rankings and reports list cells in this order.
 */
export function cellsOf(spec: Pick<SweepSpec, "models" | "operators" | "digits" | "templates">): CellKey[] {
  const cells: CellKey[] = [];
  for (const { id: model } of spec.models) {
    for (const op of spec.operators) {
      for (const digits of spec.digits) {
        for (const template of spec.templates) cells.push({ model, op, digits, template });
      }
    }
  }
  return cells;
}

/** Parses a head written `L17H22` or `17.22` (0-based layer and head). */
export function parseHeadRef(value: unknown, field = "head"): HeadRef {
  const head = typeof value === "string" ? readHeadName(value) : null;
  if (head) return head;
  // YAML reads an unquoted 1.10 as the number 1.1, so a numeric head is refused rather than guessed.
  const quote = typeof value === "number" ? `; quote it in YAML ("1.10" unquoted is the number 1.1)` : "";
  throw new SpecError(
    field,
    `${field} must be a head written "L17H22" (or "17.22"), layer and head 0-based integers${quote} (got ${describeValue(value)})`,
  );
}

function readId(value: unknown, field: string): string {
  if (typeof value === "string" && ID_PATTERN.test(value)) return value;
  throw new SpecError(field, `${field} must be ${ID_RULE} (got ${describeValue(value)})`);
}

/** The last path segment, the default model id: "../models/arith-2l-d64/" → "arith-2l-d64". */
function baseName(path: string): string {
  return (
    path
      .replace(/[/\\]+$/, "")
      .split(/[/\\]/)
      .pop() ?? ""
  );
}

function readModels(top: Fields, options: ResolveSweepOptions): SweepModel[] {
  const models: SweepModel[] = [];
  const owner = new Map<string, string>(); // id → field that introduced it
  const add = (model: SweepModel, field: string, what: string) => {
    const first = owner.get(model.id);
    if (first !== undefined) {
      throw new SpecError(
        field,
        `${what} has id ${JSON.stringify(model.id)}, already used by ${first}; model ids must be unique (set ${field === "modelRoot" ? "an id in models" : field} to another id)`,
      );
    }
    owner.set(model.id, what);
    models.push(model);
  };
  if (top.models !== undefined) {
    if (!Array.isArray(top.models) || top.models.length === 0) {
      throw new SpecError(
        "models",
        `models must be a non-empty list of {id, path}, e.g. [{id: gpt2, path: /models/gpt2}] (got ${describeValue(top.models)})`,
      );
    }
    top.models.forEach((raw, i) => {
      const at = itemPath("models", i);
      const entry = readMapping(raw, at, SWEEP_FIELDS["models[]"]);
      if (entry.path === undefined)
        throw new SpecError(
          fieldPath(at, "path"),
          `${fieldPath(at, "path")} is required: the model directory (config.json, model.safetensors, tokenizer.json)`,
        );
      const path = readText(entry.path, fieldPath(at, "path"), "a model directory path");
      const idField = fieldPath(at, "id");
      const id = entry.id !== undefined ? readId(entry.id, idField) : defaultId(path, idField);
      add({ id, path }, idField, at);
    });
  }
  if (top.modelRoot !== undefined) {
    const root = readText(top.modelRoot, "modelRoot", "a directory whose subdirectories hold models");
    for (const path of listRoot(root, options))
      add({ id: defaultId(path, "modelRoot"), path }, "modelRoot", `modelRoot directory ${JSON.stringify(path)}`);
  }
  if (models.length === 0) {
    throw new SpecError(
      "models",
      `the sweep has no models: give models (a list of {id, path}) or modelRoot (a directory of model directories)`,
    );
  }
  return models;
}

function defaultId(path: string, field: string): string {
  const id = baseName(path);
  if (ID_PATTERN.test(id)) return id;
  throw new SpecError(
    field,
    `${field}: the directory name ${JSON.stringify(id)} of ${JSON.stringify(path)} is not a usable model id; give an id of ${ID_RULE}`,
  );
}

function listRoot(root: string, options: ResolveSweepOptions): string[] {
  if (!options.listModelDirs) {
    throw new SpecError(
      "modelRoot",
      `modelRoot cannot be expanded here (no directory listing is available); list the models under models instead`,
    );
  }
  let dirs: readonly string[];
  try {
    dirs = options.listModelDirs(root);
  } catch (err) {
    if (err instanceof SpecError) throw err;
    throw new SpecError(
      "modelRoot",
      `modelRoot ${JSON.stringify(root)} cannot be listed: ${err instanceof Error ? err.message : String(err)}`,
      err,
    );
  }
  if (dirs.length === 0) {
    throw new SpecError(
      "modelRoot",
      `modelRoot ${JSON.stringify(root)} has no model directories (subdirectories holding a config.json)`,
    );
  }
  // Directory listings come in file-system order; sort so the spec is the same on every machine.
  return [...dirs].sort((a, b) => (baseName(a) < baseName(b) ? -1 : baseName(a) > baseName(b) ? 1 : 0));
}

/** `sample` must fit the smallest 2D/3D cell of the sweep (1D cells always use every pair). */
function readSample(
  value: unknown,
  field: string,
  operators: readonly Operator[],
  digits: readonly DigitRange[],
): number | "all" {
  if (value === "all") return value;
  let smallest: { count: number; cell: string } | undefined;
  for (const op of operators) {
    for (const d of digits) {
      if (d !== 1 && (smallest === undefined || pairCount(op, d) < smallest.count))
        smallest = { count: pairCount(op, d), cell: `${d}D "${op}"` };
    }
  }
  const max = smallest?.count ?? UINT32_MAX;
  if (typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= max) return value;
  const bound = smallest ? ` up to ${max} (${smallest.cell} has ${max} pairs)` : "";
  throw new SpecError(
    field,
    `${field} must be "all" or a number of pairs per cell, an integer from 1${bound} (got ${describeValue(value)})`,
  );
}

function readKs(value: unknown, field: string): number[] {
  const ks = readList(value, field, `[10, 20, 30, 50, 99]`, (k, f) => readInteger(k, f, 1, LIMITS.k));
  ks.forEach((k, i) => {
    if (i > 0 && k <= ks[i - 1]!) {
      throw new SpecError(
        itemPath(field, i),
        `${itemPath(field, i)} must be greater than ${itemPath(field, i - 1)} (${ks[i - 1]}): ks are integers from 1 to ${LIMITS.k} in strictly increasing order, e.g. [10, 20, 30, 50, 99] (got ${k})`,
      );
    }
  });
  return ks;
}

/** Verification masks each case's own top-K CNA neurons, and CNA keeps only its top cna.topK. */
function checkKsWithinTopK(ks: readonly number[], topK: number, written: boolean): void {
  const i = ks.findIndex((k) => k > topK);
  if (i < 0) return;
  const field = written ? itemPath("verify.ks", i) : "cna.topK";
  throw new SpecError(
    field,
    `${field}: verify.ks goes up to ${ks[ks.length - 1]} but cna.topK is ${topK}; CNA keeps each case's top cna.topK neurons, so every k must be at most cna.topK (raise cna.topK to at least ${ks[ks.length - 1]} or lower verify.ks)`,
  );
}

/** cna ablates each cell's top head, found by head ablation (unless cna.head fixes one); verify masks CNA's neurons. */
function checkStageInputs(stages: readonly StageName[], fixedHead: boolean): void {
  const need = (stage: StageName, input: StageName, why: string) => {
    const i = stages.indexOf(stage);
    if (i >= 0 && !stages.includes(input)) {
      throw new SpecError(
        itemPath("stages", i),
        `${itemPath("stages", i)} is "${stage}", which needs "${input}" in stages (${why}); add "${input}" or remove "${stage}"`,
      );
    }
  };
  if (!fixedHead) need("cna", "head-ablation", `it ablates each cell's top head; or set cna.head to fix the head`);
  need("verify", "cna", "it masks each case's top CNA neurons");
}

/** Keys users put at the top level that belong in a section. */
function misplacedFields(): Fields {
  const out: Fields = { model: "models", path: "models", id: "models", root: "modelRoot" };
  for (const section of ["cases", "cna", "verify", "shard", "execution"] as const) {
    for (const key of SWEEP_FIELDS[section]) if (key !== "seed") out[key] = `${section}.${key}`;
  }
  return out;
}

/**
 * Checks the sweep's fixed head (`cna.head`) against every model's layer and head counts; throws
 * a SpecError naming `cna.head` and the model it does not fit.
 */
export function checkHeadFits(
  spec: Pick<SweepSpec, "cna" | "models">,
  heads: ReadonlyMap<string, { nLayer: number; nHead: number }>,
): void {
  const head = spec.cna.head;
  if (!head) return;
  spec.models.forEach((m, i) => {
    const dims = heads.get(m.id);
    if (dims && (head.layer >= dims.nLayer || head.head >= dims.nHead)) {
      throw new SpecError(
        "cna.head",
        `cna.head ${headName(head)} is not a head of models[${i}] (${m.id}: ${dims.nLayer} layers × ${dims.nHead} heads, 0-based)`,
      );
    }
  });
}
