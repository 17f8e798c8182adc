/**
 * The family golden fixtures stay tied to what makes them: one fixture per spec in
 * scripts/golden-families.ts, recording its generator options; the generator makes the same
 * checkpoint again (same sha256); the cases are the engine's buildCases on that checkpoint's
 * tokenizer. (test/golden/regenerate.test.ts regenerates the numbers with models/reference.py.)
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCases } from "../../core/index.ts";
import { loadTokenizer } from "../../worker/index.ts";
import { cellPairs, FAMILY_GOLDENS } from "../../scripts/golden-families.ts";
import { familyGoldenNames, loadFamilyGolden, writeFamilyCheckpoint } from "../helpers/golden-families.ts";

const work = mkdtempSync(join(tmpdir(), "cna-family-golden-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("family golden fixtures", () => {
  it("exist for every spec in scripts/golden-families.ts and record its generator options", () => {
    expect(familyGoldenNames()).toEqual(FAMILY_GOLDENS.map((s) => s.name).sort());
    for (const spec of FAMILY_GOLDENS)
      expect(loadFamilyGolden(spec.name).checkpoint, spec.name).toEqual(spec.checkpoint);
  });

  it("cover every family, every real tokenizer, F16, BF16 and a sharded checkpoint", () => {
    const goldens = familyGoldenNames().map(loadFamilyGolden);
    expect(new Set(goldens.map((g) => g.family))).toEqual(
      new Set(["llama", "mistral", "qwen2", "qwen3", "gpt_neox", "gptj"]),
    );
    expect(new Set(goldens.map((g) => g.tokenizer))).toEqual(new Set(["char", "llama2", "llama3", "qwen3"]));
    expect(new Set(goldens.map((g) => g.checkpoint.dtype ?? "F32"))).toEqual(new Set(["F32", "F16", "BF16"]));
    expect(goldens.some((g) => Object.keys(g.files).length > 1)).toBe(true);
    expect(goldens.some((g) => g.cells.some((c) => c.cases.some((k) => k.boundaryFallback)))).toBe(true);
  });

  for (const spec of FAMILY_GOLDENS) {
    it(`${spec.name}: the generator makes the same checkpoint and the engine's tokenizer the same cases`, () => {
      const golden = loadFamilyGolden(spec.name);
      const dir = writeFamilyCheckpoint(golden, join(work, spec.name));
      const tokenizer = loadTokenizer(dir);
      expect(golden.shape.vocab).toBeGreaterThanOrEqual(tokenizer.vocabSize);
      spec.cells.forEach((cell, i) => {
        const got = golden.cells[i]!;
        expect([got.op, got.template]).toEqual([cell.op, cell.template]);
        const cases = buildCases(cellPairs(cell), cell.template, tokenizer);
        expect(got.cases.map((c) => [c.prompt, c.prefixIds, c.target, c.boundaryFallback])).toEqual(
          cases.map((c) => [c.prompt, c.prefixIds, c.target, c.boundaryFallback]),
        );
      });
      rmSync(dir, { recursive: true, force: true });
    });
  }

  it("a checkpoint made with other options is refused, naming the file", () => {
    const golden = loadFamilyGolden("gptj");
    expect(() =>
      writeFamilyCheckpoint({ ...golden, checkpoint: { ...golden.checkpoint, seed: 99 } }, join(work, "other")),
    ).toThrow(/model\.safetensors .* not the checkpoint/);
  });
});
