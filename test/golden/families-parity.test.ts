/**
 * Golden parity for every family: the ONNX engine against models/reference.py (float64, written
 * from transformers' equations) on the tiny random checkpoints of test/fixtures/golden/families,
 * made again here by scripts/random-checkpoint.ts (the fixture records the weight files' sha256).
 *
 * The checks and their tolerances are test/helpers/parity.ts's, as for the zoo; here the top
 * head may also be one tied with the reference's within tolerance.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCases } from "../../core/index.ts";
import type { OperandPair } from "../../core/index.ts";
import { loadCheckpoint, ModelRunner } from "../../worker/index.ts";
import type { Checkpoint } from "../../worker/index.ts";
import { familyGoldenNames, loadFamilyGolden, writeFamilyCheckpoint } from "../helpers/golden-families.ts";
import { cellParityTests } from "../helpers/parity.ts";

const root = mkdtempSync(join(tmpdir(), "cna-golden-families-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it("has a fixture for every family but gpt2 (the zoo's)", () => {
  expect(new Set(familyGoldenNames().map((n) => loadFamilyGolden(n).family))).toEqual(
    new Set(["llama", "mistral", "qwen2", "qwen3", "gpt_neox", "gptj"]),
  );
});

for (const name of familyGoldenNames()) {
  describe(`golden parity: ${name}`, () => {
    const golden = loadFamilyGolden(name);
    let ck: Checkpoint;
    let runner: ModelRunner;
    beforeAll(async () => {
      ck = await loadCheckpoint(writeFamilyCheckpoint(golden, join(root, name)));
      runner = new ModelRunner(name, ck.config, ck.weights, { intraOpThreads: 2 });
    });
    afterAll(async () => runner?.close());

    it("reads the fixture's shape from config.json", () => {
      const s = golden.shape;
      expect(ck.config).toMatchObject({
        architecture: golden.family,
        nLayer: s.layers,
        nHead: s.heads,
        nKvHead: s.kvHeads,
        dHead: s.headDim,
        dModel: s.dModel,
        dMlp: s.dMlp,
        vocabSize: s.vocab,
      });
    });

    for (const cell of golden.cells) {
      describe(`1D ${cell.op} template ${cell.template}`, () => {
        it("tokenizes every case as the fixture does", () => {
          const pairs: OperandPair[] = [];
          for (const c of cell.cases)
            if (!pairs.some((p) => p.a === c.a && p.b === c.b)) pairs.push({ op: cell.op, a: c.a, b: c.b });
          const cases = buildCases(pairs, cell.template, ck.tokenizer);
          expect(cases.map((c) => [c.prompt, c.prefixIds, c.target, c.boundaryFallback ?? false])).toEqual(
            cell.cases.map((c) => [c.prompt, c.prefixIds, c.target, c.boundaryFallback]),
          );
        });

        cellParityTests(() => runner, cell, { topHead: "tie" });
      });
    }
  });
}
