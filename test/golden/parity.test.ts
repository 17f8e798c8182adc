/**
 * Golden parity: the ONNX engine against models/reference.py (float64 PyTorch, weight-level head
 * ablation, naive per-neuron projection) on every zoo model and every golden cell.
 *
 * The checks and their tolerances are test/helpers/parity.ts's; here the top head must be the
 * reference's exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { buildCases, operandPairs } from "../../core/index.ts";
import { digestCheckpoint, ModelRunner, loadCheckpoint } from "../../worker/index.ts";
import type { Checkpoint } from "../../worker/index.ts";
import { goldenModels, loadGolden, ZOO_DIR } from "../helpers/golden.ts";
import { cellParityTests } from "../helpers/parity.ts";

for (const name of goldenModels()) {
  describe(`golden parity: ${name}`, () => {
    const golden = loadGolden(name);
    let ck: Checkpoint;
    let runner: ModelRunner;
    beforeAll(async () => {
      ck = await loadCheckpoint(join(ZOO_DIR, name));
      runner = new ModelRunner(name, ck.config, ck.weights, { intraOpThreads: 2 });
    });
    afterAll(async () => runner?.close());

    it("is the checkpoint the fixture was made from", async () => {
      // the fixture records the weights file's sha256 (the engine's digest covers config and tokenizer too)
      expect((await digestCheckpoint(join(ZOO_DIR, name))).files["model.safetensors"]).toBe(golden.modelDigest);
    });

    for (const cell of golden.cells) {
      describe(`1D ${cell.op} template 4`, () => {
        it("tokenizes every case as the reference does", () => {
          const cases = buildCases(operandPairs(cell.op, 1), 4, ck.tokenizer);
          expect(cases.map((c) => [c.prompt, c.prefixIds, c.target])).toEqual(
            cell.cases.map((c) => [c.prompt, c.prefixIds, c.target]),
          );
        });

        cellParityTests(() => runner, cell, { topHead: "exact" });
      });
    }
  });
}
