/**
 * Golden fixtures for every model family: tiny random checkpoints (scripts/random-checkpoint.ts)
 * scored by the float64 oracle (models/reference.py --families) into
 * test/fixtures/golden/families/<name>.json. The checkpoints are made again at each run in a
 * temp dir and never committed; each fixture records the generator options and the sha256 of
 * the weight files, so a parity test can make the same checkpoint and check it is the same.
 *
 *     node --import tsx scripts/golden-families.ts [--out DIR] [NAME ...]   # all, or the named ones
 *
 * `npm run golden:regen` runs it after the zoo's fixtures. Python has no tokenizer library here,
 * so the cases (token ids) come from this side: the engine's tokenizer (worker loadTokenizer)
 * and core's buildCases, exactly what a sweep uses; for character-tokenizer checkpoints the
 * oracle tokenizes again itself and requires the same ids.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { buildCases, operandPairs } from "../core/index.ts";
import type { OperandPair, Operator, TemplateId } from "../core/index.ts";
import { loadTokenizer } from "../worker/index.ts";
import { writeRandomCheckpoint } from "./random-checkpoint.ts";
import type { RandomCheckpointOptions, TokenizerName } from "./random-checkpoint.ts";

const ROOT = join(import.meta.dirname, "..");
export const FAMILY_GOLDEN_DIR = join(ROOT, "test", "fixtures", "golden", "families");
const REFERENCE = join(ROOT, "models", "reference.py");
const PYTHON = process.env["CNA_PYTHON"] ?? "/usr/bin/python3";

export interface GoldenCellSpec {
  op: Operator;
  template: TemplateId;
  /** every 1D pair of the operator, or these (a, b) */
  pairs: "all" | ReadonlyArray<readonly [number, number]>;
}

export interface FamilyGoldenSpec {
  name: string;
  checkpoint: RandomCheckpointOptions;
  cells: readonly GoldenCellSpec[];
}

/**
 * Cells: "+" with template 3 ("3 plus 5 is " 8: the space before the answer) and "-" with
 * template 4 ("3-5=" -2: a token may straddle "=-"), the two sides of docs/method.md §1's boundary
 * rule. Character-tokenizer checkpoints take every 1D pair; with a real tokenizer the vocabulary
 * (32,000 to 151,669 rows) is the cost of every neuron score, so those take six pairs per cell
 * and the two largest vocabularies a narrow FFN (regenerating all fixtures stays near 30 s).
 */
const ALL_CELLS: readonly GoldenCellSpec[] = [
  { op: "+", template: 3, pairs: "all" },
  { op: "-", template: 4, pairs: "all" },
];
const FEW_CELLS: readonly GoldenCellSpec[] = [
  {
    op: "+",
    template: 3,
    pairs: [
      [3, 5],
      [9, 9],
      [0, 0],
      [7, 8],
      [4, 6],
      [2, 7],
    ],
  },
  {
    op: "-",
    template: 4,
    pairs: [
      [3, 5],
      [9, 2],
      [5, 5],
      [2, 9],
      [8, 1],
      [0, 7],
    ],
  },
];

/**
 * One checkpoint per family and variant the engine must get right, at least one per real
 * tokenizer. Random weights over a real tokenizer's vocabulary give the true answer a
 * probability near 0, so their head metrics are near 0; the character-tokenizer ones carry
 * head ablation, the others neuron scores, coefficients, top-1 and the final scale.
 */
export const FAMILY_GOLDENS: readonly FamilyGoldenSpec[] = [
  {
    name: "llama-gqa-rope-llama3",
    checkpoint: {
      family: "llama",
      seed: 11,
      hidden: 32,
      heads: 4,
      kvHeads: 2,
      intermediate: 64,
      ropeScaling: {
        type: "llama3",
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 64,
      },
    },
    cells: ALL_CELLS,
  },
  {
    name: "llama-llama2-bf16-sharded",
    checkpoint: {
      family: "llama",
      seed: 12,
      tokenizer: "llama2",
      dtype: "BF16",
      shards: 2,
      hidden: 16,
      heads: 4,
      kvHeads: 1,
      intermediate: 32,
      tieWordEmbeddings: true,
      attentionBias: true,
      mlpBias: true,
      ropeScaling: { type: "linear", factor: 2 },
    },
    cells: FEW_CELLS,
  },
  {
    name: "mistral-f16",
    checkpoint: { family: "mistral", seed: 13, dtype: "F16", hidden: 32, heads: 4, kvHeads: 2, intermediate: 64 },
    cells: ALL_CELLS,
  },
  {
    name: "qwen2-tied",
    checkpoint: {
      family: "qwen2",
      seed: 14,
      hidden: 32,
      heads: 4,
      kvHeads: 2,
      intermediate: 64,
      tieWordEmbeddings: true,
    },
    cells: ALL_CELLS,
  },
  {
    name: "qwen3-qwen3-bf16",
    checkpoint: {
      family: "qwen3",
      seed: 15,
      tokenizer: "qwen3",
      dtype: "BF16",
      hidden: 16,
      heads: 4,
      kvHeads: 2,
      headDim: 6,
      intermediate: 16,
    },
    cells: FEW_CELLS,
  },
  {
    name: "neox-parallel-llama3",
    checkpoint: {
      family: "gpt_neox",
      seed: 16,
      tokenizer: "llama3",
      dtype: "F16",
      hidden: 32,
      heads: 2,
      intermediate: 16,
      parallelResidual: true,
      rotaryPct: 0.25,
    },
    cells: FEW_CELLS,
  },
  {
    name: "neox-sequential",
    checkpoint: {
      family: "gpt_neox",
      seed: 17,
      hidden: 32,
      heads: 4,
      intermediate: 64,
      parallelResidual: false,
      rotaryPct: 0.5,
      attentionBias: false,
    },
    cells: ALL_CELLS,
  },
  {
    name: "gptj",
    checkpoint: { family: "gptj", seed: 18, hidden: 32, heads: 4, intermediate: 64, rotaryDim: 4 },
    cells: ALL_CELLS,
  },
];

export function cellPairs(cell: GoldenCellSpec): OperandPair[] {
  return cell.pairs === "all" ? operandPairs(cell.op, 1) : cell.pairs.map(([a, b]) => ({ op: cell.op, a, b }));
}

export interface ManifestCase {
  a: number;
  b: number;
  prompt: string;
  answer: string;
  answerIndex: number;
  prefixIds: number[];
  target: number;
  boundaryFallback: boolean;
}

export interface ManifestEntry {
  name: string;
  dir: string;
  out: string;
  checkpoint: RandomCheckpointOptions;
  tokenizer: TokenizerName;
  cells: Array<{ op: Operator; digits: 1; template: TemplateId; cases: ManifestCase[] }>;
}

/** Writes the spec's checkpoint into `dir` and tokenizes its cells with the engine's tokenizer. */
export function prepareFamilyGolden(spec: FamilyGoldenSpec, dir: string, out: string): ManifestEntry {
  writeRandomCheckpoint(dir, spec.checkpoint);
  const tokenizer = loadTokenizer(dir);
  const cells = spec.cells.map((cell) => ({
    op: cell.op,
    digits: 1 as const,
    template: cell.template,
    cases: buildCases(cellPairs(cell), cell.template, tokenizer).map((c) => ({
      a: c.pair.a,
      b: c.pair.b,
      prompt: c.prompt,
      answer: c.answer,
      answerIndex: c.answerIndex,
      prefixIds: c.prefixIds,
      target: c.target,
      boundaryFallback: c.boundaryFallback,
    })),
  }));
  return {
    name: spec.name,
    dir,
    out,
    checkpoint: spec.checkpoint,
    tokenizer: spec.checkpoint.tokenizer ?? "char",
    cells,
  };
}

export function familyGoldenSpec(name: string): FamilyGoldenSpec {
  const spec = FAMILY_GOLDENS.find((s) => s.name === name);
  if (spec === undefined)
    throw new Error(
      `no family golden named ${JSON.stringify(name)}; one of ${FAMILY_GOLDENS.map((s) => s.name).join(", ")}`,
    );
  return spec;
}

/** Writes `outDir`/<name>.json for the named specs (default all); throws with Python's stderr on failure. */
export function regenerateFamilyGoldens(outDir: string, names: readonly string[] = []): void {
  const specs = names.length === 0 ? FAMILY_GOLDENS : names.map(familyGoldenSpec);
  const work = mkdtempSync(join(tmpdir(), "cna-family-goldens-"));
  try {
    const checkpoints = specs.map((spec) =>
      prepareFamilyGolden(spec, join(work, spec.name), join(outDir, `${spec.name}.json`)),
    );
    const manifest = join(work, "manifest.json");
    writeFileSync(manifest, JSON.stringify({ checkpoints }));
    const r = spawnSync(PYTHON, [REFERENCE, "--families", manifest], {
      encoding: "utf8",
      stdio: ["ignore", "inherit", "pipe"],
    });
    if (r.status !== 0)
      throw new Error(
        `models/reference.py --families failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}`,
      );
    process.stderr.write(r.stderr);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values, positionals } = parseArgs({ options: { out: { type: "string" } }, allowPositionals: true });
  regenerateFamilyGoldens(values.out ?? FAMILY_GOLDEN_DIR, positionals);
}
