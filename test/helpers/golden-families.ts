/**
 * The family golden fixtures: tiny random checkpoints of Llama, Mistral, Qwen2, Qwen3, GPT-NeoX
 * and GPT-J scored by models/reference.py (float64, independent of the engine), one file per
 * checkpoint under test/fixtures/golden/families/. scripts/golden-families.ts lists them and
 * regenerates them (`npm run golden:regen`).
 *
 * The checkpoints are not committed. A parity test makes one again from the options its
 * fixture records, into a temp dir:
 *
 *     const golden = loadFamilyGolden("qwen3-qwen3-bf16");
 *     writeFamilyCheckpoint(golden, dir); // throws unless the weight files' sha256 match the fixture
 *     // then load `dir` with the engine and compare with golden.cells as parity.test.ts does
 *
 * The fixtures have the zoo fixtures' format (test/helpers/golden.ts), plus per case the
 * boundaryFallback flag and, per fixture, the family, the generator options, the tokenizer, the
 * weight files' digests and the key/value heads and head width.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TemplateId } from "../../core/index.ts";
import { writeRandomCheckpoint } from "../../scripts/random-checkpoint.ts";
import type { Family, RandomCheckpointOptions, TokenizerName } from "../../scripts/random-checkpoint.ts";
import { GOLDEN_DIR } from "./golden.ts";
import type { GoldenCase, GoldenCell } from "./golden.ts";

export const FAMILY_GOLDEN_DIR = join(GOLDEN_DIR, "families");

export interface FamilyGoldenCase extends GoldenCase {
  /** the pair's answer tokens came from tokenizing the answer alone (docs/method.md §1) */
  boundaryFallback: boolean;
}

export type FamilyGoldenCell = Omit<GoldenCell, "template" | "cases"> & {
  template: TemplateId;
  cases: FamilyGoldenCase[];
};

export interface FamilyGolden {
  model: string;
  family: Exclude<Family, "gpt2">;
  /** scripts/random-checkpoint.ts options that make the checkpoint */
  checkpoint: RandomCheckpointOptions;
  tokenizer: TokenizerName;
  /** weight file → sha256 of its bytes */
  files: Record<string, string>;
  shape: {
    layers: number;
    heads: number;
    kvHeads: number;
    headDim: number;
    dModel: number;
    dMlp: number;
    vocab: number;
  };
  cells: FamilyGoldenCell[];
}

export function familyGoldenNames(): string[] {
  return readdirSync(FAMILY_GOLDEN_DIR)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length))
    .sort();
}

export function loadFamilyGolden(name: string): FamilyGolden {
  return JSON.parse(readFileSync(join(FAMILY_GOLDEN_DIR, `${name}.json`), "utf8")) as FamilyGolden;
}

/** Writes the fixture's checkpoint into `dir`; throws naming the file whose sha256 differs from the fixture's. */
export function writeFamilyCheckpoint(golden: FamilyGolden, dir: string): string {
  const written = writeRandomCheckpoint(dir, golden.checkpoint);
  const digests = weightDigests(dir, written.files);
  for (const [file, sha] of Object.entries(golden.files)) {
    if (digests[file] !== sha) {
      throw new Error(
        `${golden.model}: ${file} made by scripts/random-checkpoint.ts is not the checkpoint the fixture was computed on (sha256 ${digests[file] ?? "missing"}, fixture ${sha})`,
      );
    }
  }
  if (written.files.length !== Object.keys(golden.files).length)
    throw new Error(
      `${golden.model}: ${written.files.length} weight files, the fixture has ${Object.keys(golden.files).length}`,
    );
  return dir;
}

export function weightDigests(dir: string, files: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    files.map((f) => [
      f,
      createHash("sha256")
        .update(readFileSync(join(dir, f)))
        .digest("hex"),
    ]),
  );
}
