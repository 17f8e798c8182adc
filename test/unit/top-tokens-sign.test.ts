/**
 * What a neuron writes (docs/method.md §4): the top tokens of W_U (g * c(σ · W_out[k])), σ the sign
 * of the neuron's mean coefficient m over the cell's cases, for CNA and attribution neurons
 * alike. On a tiny random Llama (SwiGLU: m = silu(gate) · up is negative about as often as
 * positive), against float64 computed here from the weights and the forward pass's coefficients:
 * a neuron with m < 0 lists the bottom tokens of W_U (g * W_out[k]) and σ = -1. Tokens are shown
 * as their own text, leading space kept.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { writeRandomCheckpoint } from "../../scripts/random-checkpoint.ts";
import type { CellKey } from "../../core/index.ts";
import { analyzeCell, loadCheckpoint, loadTokenizer, ModelRunner, tokenString } from "../../worker/index.ts";
import { realTokenizerDir } from "../helpers/tokenizers.ts";

const root = mkdtempSync(join(tmpdir(), "cna-top-tokens-sign-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CASES = [
  { id: 0, prefixIds: [5, 12, 7, 16], target: 9 },
  { id: 1, prefixIds: [3, 4, 12, 9, 16], target: 4 },
  { id: 2, prefixIds: [8, 13, 2, 16], target: 17 },
];
const KEY: CellKey = { model: "llama", op: "+", digits: 1, template: 4 };
const COUNT = 5;

/** Odd ids spell a text of their own, even ids do not: the shown string must come from tokenText, else decode. */
const tokenizer = {
  tokenText: (id: number) => (id % 2 === 1 ? `t${id}` : undefined),
  decode: (ids: readonly number[]) => `d${ids.join(",")}`,
};
const shown = (id: number) => (id % 2 === 1 ? `t${id}` : `d${id}`);

describe("top tokens signed by the mean coefficient (llama, RMSNorm: c(u) = u)", () => {
  const dir = join(root, "llama");
  writeRandomCheckpoint(dir, { seed: 11, family: "llama", heads: 4, kvHeads: 2 });

  it("lists σ · W_U (g * W_out[k])'s top tokens with σ = sign(mean m), for CNA and attribution neurons", async () => {
    const ck = await loadCheckpoint(dir);
    const { nLayer: L, dModel: D, dMlp: F, vocabSize: V } = ck.config;
    const w = ck.weights;
    expect(w.layout).toBe("out-in");
    await using runner = new ModelRunner("llama", ck.config, w, { intraOpThreads: 1 });

    // m over the cases, from the forward pass: [B, L, F]
    const post = (await runner.forward({ sequences: CASES.map((c) => c.prefixIds), outputs: ["mlp_post"] })).outputs
      .mlp_post!;
    const meanCoef = (l: number, k: number) =>
      CASES.reduce((a, _, b) => a + post[(b * L + l) * F + k]!, 0) / CASES.length;
    // W_U (g * W_out[k]) in float64; W_out[k] is column k of the [D, F] down projection.
    const uRow = (l: number, k: number) =>
      Array.from({ length: V }, (_, v) => {
        let s = 0;
        for (let d = 0; d < D; d++)
          s += w.unembed.data[v * D + d]! * w.finalNorm.weight.data[d]! * w.layers[l]!.mlpOut.weight.data[d * F + k]!;
        return s;
      });
    // best first: σ · u descending, ties by lower id (σ = -1: the bottom tokens of u)
    const want = (l: number, k: number, sign: number) =>
      uRow(l, k)
        .map((x, v) => [sign * x, v] as const)
        .sort((p, q) => q[0] - p[0] || p[1] - q[1])
        .slice(0, COUNT)
        .map(([, v]) => shown(v));

    const attr = await analyzeCell(runner, tokenizer, KEY, CASES, {
      analysis: "attribution",
      topK: 5,
      topNeurons: L * F,
      topTokens: COUNT,
    });
    const cnaCell = await analyzeCell(runner, tokenizer, KEY, CASES, {
      analysis: "cna",
      head: { layer: 0, head: 1 },
      topK: 5,
      topNeurons: L * F,
      topTokens: COUNT,
    });
    const lists = {
      attribution: attr.attribution!.neurons.map((n) => ({ n, coef: n.coefMean })),
      cna: cnaCell.neurons!.map((n) => ({ n, coef: n.coefOrigMean })),
    };
    for (const [what, neurons] of Object.entries(lists)) {
      expect(neurons, what).toHaveLength(L * F);
      const negative = neurons.filter((x) => x.coef < 0);
      // SwiGLU: both signs are common
      expect(negative.length, what).toBeGreaterThan((L * F) / 5);
      expect(neurons.filter((x) => x.coef > 0).length, what).toBeGreaterThan((L * F) / 5);
      for (const { n, coef } of neurons) {
        const where = `${what} ${n.layer}_${n.neuron}`;
        const m = meanCoef(n.layer, n.neuron);
        expect(Math.abs(coef - m), where).toBeLessThan(1e-6 * Math.max(1, Math.abs(m)));
        expect(n.topTokensSign, where).toBe(m < 0 ? -1 : 1);
        expect(n.topTokens, where).toEqual(want(n.layer, n.neuron, m < 0 ? -1 : 1));
      }
      // the negative ones list the bottom of W_U (g * W_out[k]), not its top
      const { n } = negative[0]!;
      expect(n.topTokens).not.toEqual(want(n.layer, n.neuron, 1));
    }
  });
});

describe("tokens shown beside a neuron", () => {
  it("keep SentencePiece's and byte-level's leading space, which decode() drops from a lone token", () => {
    const sp = loadTokenizer(realTokenizerDir("llama2"));
    const is = sp.tokenToId("▁is")!;
    expect(sp.decode([is])).toBe("is");
    expect(tokenString(sp, is)).toBe(" is");
    expect(tokenString(sp, sp.tokenToId("<0x2D>")!)).toBe("-");
    expect(tokenString(sp, sp.tokenToId("<s>")!)).toBe("<s>");
    // a byte that is part of a character spells no text of its own: decode() stands in
    const partial = sp.tokenToId("<0xE2>")!;
    expect(tokenString(sp, partial)).toBe(sp.decode([partial]));
    const bl = loadTokenizer(realTokenizerDir("llama3"));
    expect(tokenString(bl, bl.tokenToId("Ġis")!)).toBe(" is");
  });

  it("are decode()'s strings for the zoo's character vocabulary, as before", () => {
    const zoo = loadTokenizer(fileURLToPath(new URL("../../models/arith-2l-d64", import.meta.url)));
    for (let id = 0; id < zoo.vocabSize; id++) expect(tokenString(zoo, id), `id ${id}`).toBe(zoo.decode([id]));
  });
});
