/**
 * The parity checks every golden cell gets, against models/reference.py's float64 numbers: the
 * zoo's fixtures (test/golden/parity.test.ts) and the other families' (families-parity.test.ts).
 *
 * Tolerances (absolute): head metrics 1e-4; importances, CNA, coefficients and layer scores 1e-3
 * (the engine runs in float32, the reference in float64). Top-1 may differ only where the
 * reference's top-1 margin is below 1e-4, and a case's top-K CNA neurons only by neurons within
 * tolerance of the reference's K-th score (ties float32 cannot resolve).
 */
import { expect, it } from "vitest";
import { rankHeads, rankVerification } from "../../core/index.ts";
import { attribution, cna, headAblation, verify } from "../../worker/index.ts";
import type { CnaCaseScores, LayerScores, ModelRunner } from "../../worker/index.ts";
import { maxAbsDiff } from "./golden.ts";
import type { GoldenCase, GoldenCell } from "./golden.ts";

export const HEAD_TOL = 1e-4;
export const IMP_TOL = 1e-3;
export const TIE_MARGIN = 1e-4;

/** The fields of a golden cell the checks read (zoo and family cells both have them). */
export type ParityCell = Pick<GoldenCell, "heads" | "topHead" | "dense" | "verification"> & { cases: GoldenCase[] };

export interface ParityOptions {
  /** "exact": the engine's rank-1 head is the reference's; "tie": or one tied with it within tolerance */
  topHead: "exact" | "tie";
}

/** Registers the parity tests of one cell; `runner()` gives the model's runner once beforeAll ran. */
export function cellParityTests(runner: () => ModelRunner, cell: ParityCell, o: ParityOptions): void {
  it("ablates every head within 1e-4 and finds the same top head", async () => {
    const ranked = rankHeads(await headAblation(runner(), cell.cases));
    for (const g of cell.heads) {
      const h = ranked.find((r) => r.layer === g.layer && r.head === g.head)!;
      expect(Math.abs(h.accuracy - g.accuracy), `head ${g.layer}.${g.head} accuracy`).toBeLessThanOrEqual(HEAD_TOL);
      expect(Math.abs(h.relativeDrop - g.relativeDrop), `head ${g.layer}.${g.head} relativeDrop`).toBeLessThanOrEqual(
        HEAD_TOL,
      );
      expect(
        Math.abs(h.meanProbCorrect - g.meanProbCorrect),
        `head ${g.layer}.${g.head} meanProbCorrect`,
      ).toBeLessThanOrEqual(HEAD_TOL);
    }
    const top = cell.heads.find((g) => g.layer === cell.topHead.layer && g.head === cell.topHead.head)!;
    const mine = cell.heads.find((g) => g.layer === ranked[0]!.layer && g.head === ranked[0]!.head)!;
    if (o.topHead === "exact") expect([mine.layer, mine.head]).toEqual([top.layer, top.head]);
    else if (mine !== top)
      expect(
        mine.accuracy === top.accuracy && Math.abs(mine.meanProbCorrect - top.meanProbCorrect) <= HEAD_TOL,
        `top head ${mine.layer}.${mine.head}, reference ${top.layer}.${top.head}`,
      ).toBe(true);
  });

  const dense = () => cell.dense.caseIds.map((id) => cell.cases[id]!);

  it("scores every neuron within 1e-3 (Imp_orig, Imp_ablated, CNA, coefficients) with the same per-case top-K", async () => {
    const got = new Map<number, CnaCaseScores>();
    await cna(runner(), dense(), { head: cell.topHead, topK: 10 }, (s) => got.set(s.caseId, s));
    cell.dense.caseIds.forEach((id, i) => {
      const s = got.get(id)!;
      expect(maxAbsDiff(s.impOrig, cell.dense.impOrig[i]!), `case ${id} Imp_orig`).toBeLessThanOrEqual(IMP_TOL);
      expect(maxAbsDiff(s.impAblated, cell.dense.impAblated[i]!), `case ${id} Imp_ablated`).toBeLessThanOrEqual(
        IMP_TOL,
      );
      expect(maxAbsDiff(s.cna, cell.dense.cna[i]!), `case ${id} CNA`).toBeLessThanOrEqual(IMP_TOL);
      expect(maxAbsDiff(s.coefOrig, cell.dense.coefOrig[i]!), `case ${id} m`).toBeLessThanOrEqual(IMP_TOL);
      expect(maxAbsDiff(s.coefAblated, cell.dense.coefAblated[i]!), `case ${id} m'`).toBeLessThanOrEqual(IMP_TOL);
      expectSameTopK(id, topOf(s.cna, 10), cell.dense.topK[i]!, cell.dense.cna[i]!);
    });
  });

  it("scores attention layers, heads and FFN layers within 1e-3", async () => {
    const got = new Map<number, LayerScores>();
    await attribution(runner(), dense(), {}, (s) => got.set(s.caseId, s));
    cell.dense.caseIds.forEach((id, i) => {
      const s = got.get(id)!;
      expect(maxAbsDiff(s.neurons, cell.dense.impOrig[i]!), `case ${id} neurons`).toBeLessThanOrEqual(IMP_TOL);
      expect(maxAbsDiff(s.attnLayers, cell.dense.attnLayerImp[i]!), `case ${id} attention layers`).toBeLessThanOrEqual(
        IMP_TOL,
      );
      expect(maxAbsDiff(s.ffnLayers, cell.dense.ffnLayerImp[i]!), `case ${id} FFN layers`).toBeLessThanOrEqual(IMP_TOL);
      expect(maxAbsDiff(s.heads, cell.dense.headImp[i]!), `case ${id} heads`).toBeLessThanOrEqual(IMP_TOL);
    });
  });

  it("verifies (mask / keep / random) as the reference does", async () => {
    const v = rankVerification(
      await verify(runner(), cell.cases, {
        head: cell.topHead,
        ks: [cell.verification.k],
        seed: cell.verification.seed,
      }),
    );
    for (const variant of ["mask", "keep", "random"] as const) {
      expect(Math.abs(v[variant][0]!.accuracy - cell.verification[variant].accuracy), variant).toBeLessThanOrEqual(
        HEAD_TOL,
      );
    }
  });

  it("predicts the same top-1 token except at near ties, with the same final norm scale", async () => {
    const out = await runner().forward({
      sequences: cell.cases.map((c) => c.prefixIds),
      outputs: ["logits", "final_scale"],
    });
    const V = runner().shape.vocabSize;
    cell.cases.forEach((c, b) => {
      const row = out.outputs.logits!.subarray(b * V, (b + 1) * V);
      let top = 0;
      for (let v = 1; v < V; v++) if (row[v]! > row[top]!) top = v; // vocabularies of 150k overflow Math.max(...row)
      if (c.margin >= TIE_MARGIN) expect(top, `case ${c.id} top-1`).toBe(c.top1);
      expect(Math.abs(out.outputs.final_scale![b]! - c.finalScale), `case ${c.id} s`).toBeLessThanOrEqual(HEAD_TOL);
    });
  });
}

function topOf(scores: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => scores[b]! - scores[a]! || a - b)
    .slice(0, k);
}

/** Same set, or the neurons that differ sit within tolerance of the reference's K-th score (a tie). */
function expectSameTopK(caseId: number, got: number[], want: number[], goldenScores: number[]): void {
  const kth = Math.min(...want.map((j) => goldenScores[j]!));
  const differ = [...got.filter((j) => !want.includes(j)), ...want.filter((j) => !got.includes(j))];
  for (const j of differ) {
    expect(
      Math.abs(goldenScores[j]! - kth),
      `case ${caseId}: neuron ${j} in only one top-K and not tied`,
    ).toBeLessThanOrEqual(IMP_TOL);
  }
}
