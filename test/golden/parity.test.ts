/**
 * Golden parity: the ONNX engine against models/reference.py (float64 PyTorch, weight-level head
 * ablation, naive per-neuron projection) on every zoo model and every golden cell.
 *
 * Tolerances (absolute): head metrics 1e-4; importances, CNA and layer scores 1e-3; the engine
 * runs in float32, the reference in float64. Top-1 predictions may differ only where the
 * reference's top-1 margin is below 1e-4 (a near tie that float32 cannot resolve).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { buildCases, operandPairs, rankHeads, rankVerification } from "../../core/index.ts";
import { attribution, cna, digestCheckpoint, headAblation, ModelRunner, verify, loadCheckpoint } from "../../worker/index.ts";
import type { Checkpoint, CnaCaseScores, LayerScores } from "../../worker/index.ts";
import { goldenModels, loadGolden, maxAbsDiff, ZOO_DIR } from "../helpers/golden.ts";

const HEAD_TOL = 1e-4;
const IMP_TOL = 1e-3;
const TIE_MARGIN = 1e-4;

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
          expect(cases.map((c) => [c.prompt, c.prefixIds, c.target])).toEqual(cell.cases.map((c) => [c.prompt, c.prefixIds, c.target]));
        });

        it("ablates every head within 1e-4 and finds the same top head", async () => {
          const ranked = rankHeads(await headAblation(runner, cell.cases));
          expect(ranked.map((h) => [h.layer, h.head])[0]).toEqual([cell.topHead.layer, cell.topHead.head]);
          for (const g of cell.heads) {
            const h = ranked.find((r) => r.layer === g.layer && r.head === g.head)!;
            expect(Math.abs(h.accuracy - g.accuracy), `head ${g.layer}.${g.head} accuracy`).toBeLessThanOrEqual(HEAD_TOL);
            expect(Math.abs(h.relativeDrop - g.relativeDrop), `head ${g.layer}.${g.head} relativeDrop`).toBeLessThanOrEqual(HEAD_TOL);
            expect(Math.abs(h.meanProbCorrect - g.meanProbCorrect), `head ${g.layer}.${g.head} meanProbCorrect`).toBeLessThanOrEqual(HEAD_TOL);
          }
        });

        const dense = () => cell.dense.caseIds.map((id) => cell.cases[id]!);

        it("scores every neuron within 1e-3 (Imp_orig, Imp_ablated, CNA) with the same per-case top-K", async () => {
          const got = new Map<number, CnaCaseScores>();
          await cna(runner, dense(), { head: cell.topHead, topK: 10 }, (s) => got.set(s.caseId, s));
          cell.dense.caseIds.forEach((id, i) => {
            const s = got.get(id)!;
            expect(maxAbsDiff(s.impOrig, cell.dense.impOrig[i]!), `case ${id} Imp_orig`).toBeLessThanOrEqual(IMP_TOL);
            expect(maxAbsDiff(s.impAblated, cell.dense.impAblated[i]!), `case ${id} Imp_ablated`).toBeLessThanOrEqual(IMP_TOL);
            expect(maxAbsDiff(s.cna, cell.dense.cna[i]!), `case ${id} CNA`).toBeLessThanOrEqual(IMP_TOL);
            expect(maxAbsDiff(s.coefOrig, cell.dense.coefOrig[i]!), `case ${id} m`).toBeLessThanOrEqual(IMP_TOL);
            expect(maxAbsDiff(s.coefAblated, cell.dense.coefAblated[i]!), `case ${id} m'`).toBeLessThanOrEqual(IMP_TOL);
            expectSameTopK(id, topOf(s.cna, 10), cell.dense.topK[i]!, cell.dense.cna[i]!);
          });
        });

        it("scores attention layers, heads and FFN layers within 1e-3", async () => {
          const got = new Map<number, LayerScores>();
          await attribution(runner, dense(), {}, (s) => got.set(s.caseId, s));
          cell.dense.caseIds.forEach((id, i) => {
            const s = got.get(id)!;
            expect(maxAbsDiff(s.neurons, cell.dense.impOrig[i]!), `case ${id} neurons`).toBeLessThanOrEqual(IMP_TOL);
            expect(maxAbsDiff(s.attnLayers, cell.dense.attnLayerImp[i]!), `case ${id} attention layers`).toBeLessThanOrEqual(IMP_TOL);
            expect(maxAbsDiff(s.ffnLayers, cell.dense.ffnLayerImp[i]!), `case ${id} FFN layers`).toBeLessThanOrEqual(IMP_TOL);
            expect(maxAbsDiff(s.heads, cell.dense.headImp[i]!), `case ${id} heads`).toBeLessThanOrEqual(IMP_TOL);
          });
        });

        it("verifies (mask / keep / random, K = 10) as the reference does", async () => {
          const v = rankVerification(await verify(runner, cell.cases, { head: cell.topHead, ks: [cell.verification.k], seed: cell.verification.seed }));
          for (const variant of ["mask", "keep", "random"] as const) {
            expect(Math.abs(v[variant][0]!.accuracy - cell.verification[variant].accuracy), variant).toBeLessThanOrEqual(HEAD_TOL);
          }
        });

        it("predicts the same top-1 token except at near ties", async () => {
          const out = await runner.forward({ sequences: cell.cases.map((c) => c.prefixIds), outputs: ["logits", "final_scale"] });
          const V = runner.shape.vocabSize;
          cell.cases.forEach((c, b) => {
            const row = out.outputs.logits!.subarray(b * V, (b + 1) * V);
            const top = row.indexOf(Math.max(...row));
            if (c.margin >= TIE_MARGIN) expect(top, `case ${c.id} top-1`).toBe(c.top1);
            expect(Math.abs(out.outputs.final_scale![b]! - c.finalScale), `case ${c.id} s`).toBeLessThanOrEqual(HEAD_TOL);
          });
        });
      });
    }
  });
}

function topOf(scores: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b).slice(0, k);
}

/** Same set, or the neurons that differ sit within tolerance of the reference's K-th score (a tie). */
function expectSameTopK(caseId: number, got: number[], want: number[], goldenScores: number[]): void {
  const kth = Math.min(...want.map((j) => goldenScores[j]!));
  const differ = [...got.filter((j) => !want.includes(j)), ...want.filter((j) => !got.includes(j))];
  for (const j of differ) {
    expect(Math.abs(goldenScores[j]! - kth), `case ${caseId}: neuron ${j} in only one top-K and not tied`).toBeLessThanOrEqual(IMP_TOL);
  }
}
