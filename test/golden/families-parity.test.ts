/**
 * Golden parity for every family: the ONNX engine against models/reference.py (float64, written
 * from transformers' equations) on the tiny random checkpoints of test/fixtures/golden/families,
 * made again here by scripts/random-checkpoint.ts (the fixture records the weight files' sha256).
 *
 * Tolerances (absolute), as for the zoo: head metrics 1e-4; importances, CNA, coefficients and
 * layer scores 1e-3; top-1 may differ only at a near tie (reference margin below 1e-4); the top
 * head and each case's top-K CNA neurons are the reference's unless the difference sits within
 * tolerance of a tie.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCases, rankHeads, rankVerification } from "../../core/index.ts";
import type { OperandPair } from "../../core/index.ts";
import { attribution, cna, headAblation, loadCheckpoint, ModelRunner, verify } from "../../worker/index.ts";
import type { Checkpoint, CnaCaseScores, LayerScores } from "../../worker/index.ts";
import { maxAbsDiff } from "../helpers/golden.ts";
import { familyGoldenNames, loadFamilyGolden, writeFamilyCheckpoint } from "../helpers/golden-families.ts";

const HEAD_TOL = 1e-4;
const IMP_TOL = 1e-3;
const TIE_MARGIN = 1e-4;

const root = mkdtempSync(join(tmpdir(), "cna-golden-families-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it("has a fixture for every family but gpt2 (the zoo's)", () => {
  expect(new Set(familyGoldenNames().map((n) => loadFamilyGolden(n).family))).toEqual(new Set(["llama", "mistral", "qwen2", "qwen3", "gpt_neox", "gptj"]));
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
      expect(ck.config).toMatchObject({ architecture: golden.family, nLayer: s.layers, nHead: s.heads, nKvHead: s.kvHeads, dHead: s.headDim, dModel: s.dModel, dMlp: s.dMlp, vocabSize: s.vocab });
    });

    for (const cell of golden.cells) {
      describe(`1D ${cell.op} template ${cell.template}`, () => {
        it("tokenizes every case as the fixture does", () => {
          const pairs: OperandPair[] = [];
          for (const c of cell.cases) if (!pairs.some((p) => p.a === c.a && p.b === c.b)) pairs.push({ op: cell.op, a: c.a, b: c.b });
          const cases = buildCases(pairs, cell.template, ck.tokenizer);
          expect(cases.map((c) => [c.prompt, c.prefixIds, c.target, c.boundaryFallback ?? false])).toEqual(cell.cases.map((c) => [c.prompt, c.prefixIds, c.target, c.boundaryFallback]));
        });

        it("ablates every head within 1e-4 and finds the same top head", async () => {
          const ranked = rankHeads(await headAblation(runner, cell.cases));
          for (const g of cell.heads) {
            const h = ranked.find((r) => r.layer === g.layer && r.head === g.head)!;
            expect(Math.abs(h.accuracy - g.accuracy), `head ${g.layer}.${g.head} accuracy`).toBeLessThanOrEqual(HEAD_TOL);
            expect(Math.abs(h.relativeDrop - g.relativeDrop), `head ${g.layer}.${g.head} relativeDrop`).toBeLessThanOrEqual(HEAD_TOL);
            expect(Math.abs(h.meanProbCorrect - g.meanProbCorrect), `head ${g.layer}.${g.head} meanProbCorrect`).toBeLessThanOrEqual(HEAD_TOL);
          }
          // the reference's rank 1, or a head tied with it within tolerance
          const top = cell.heads.find((g) => g.layer === cell.topHead.layer && g.head === cell.topHead.head)!;
          const mine = cell.heads.find((g) => g.layer === ranked[0]!.layer && g.head === ranked[0]!.head)!;
          if (mine !== top) expect(mine.accuracy === top.accuracy && Math.abs(mine.meanProbCorrect - top.meanProbCorrect) <= HEAD_TOL, `top head ${mine.layer}.${mine.head}, reference ${top.layer}.${top.head}`).toBe(true);
        });

        const dense = () => cell.dense.caseIds.map((id) => cell.cases[id]!);

        it("scores every neuron within 1e-3 (Imp_orig, Imp_ablated, CNA, coefficients) with the same per-case top-K", async () => {
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

        it("verifies (mask / keep / random) as the reference does", async () => {
          const v = rankVerification(await verify(runner, cell.cases, { head: cell.topHead, ks: [cell.verification.k], seed: cell.verification.seed }));
          for (const variant of ["mask", "keep", "random"] as const) {
            expect(Math.abs(v[variant][0]!.accuracy - cell.verification[variant].accuracy), variant).toBeLessThanOrEqual(HEAD_TOL);
          }
        });

        it("predicts the same top-1 token except at near ties, with the same final norm scale", async () => {
          const out = await runner.forward({ sequences: cell.cases.map((c) => c.prefixIds), outputs: ["logits", "final_scale"] });
          const V = runner.shape.vocabSize;
          cell.cases.forEach((c, b) => {
            const row = out.outputs.logits!.subarray(b * V, (b + 1) * V);
            let top = 0;
            for (let v = 1; v < V; v++) if (row[v]! > row[top]!) top = v; // vocabularies of 150k overflow Math.max(...row)
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
