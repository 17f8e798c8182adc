/**
 * The attribution stage's per-neuron coefficient sum (docs/method.md §4 takes σ from its mean): the
 * analysis sums each case's coefficient m, and shard partials merge it like impSum, exactly and
 * in any order.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeRandomCheckpoint } from "../../scripts/random-checkpoint.ts";
import { mergeAll, mergePartials, mulberry32, rankAttribution } from "../../core/index.ts";
import type { AttributionPartial, ModelDims } from "../../core/index.ts";
import { attribution, loadCheckpoint, ModelRunner } from "../../worker/index.ts";

const dims: ModelDims = { nLayer: 2, nHead: 2, dMlp: 4 };
const n = dims.nLayer * dims.dMlp;

/** A partial of `cases` cases whose sums are multiples of 2^-8 below 2^8: any order adds them exactly. */
function partial(seed: number, cases: number): AttributionPartial {
  const rng = mulberry32(seed);
  const sums = (len: number) => Array.from({ length: len }, () => Math.round((rng.next() - 0.5) * 2 ** 12) / 2 ** 8);
  return {
    kind: "attribution",
    dims,
    cases,
    baselineCorrect: Math.floor(cases / 2),
    topK: 3,
    impSum: sums(n),
    coefSum: sums(n),
    topKCount: Array.from({ length: n }, () => Math.floor(rng.next() * cases)),
    attnLayerSum: sums(dims.nLayer),
    ffnLayerSum: sums(dims.nLayer),
    headSum: sums(dims.nLayer * dims.nHead),
  };
}

describe("attribution coefficient sums", () => {
  const parts = [partial(1, 5), partial(2, 7), partial(3, 4)];

  it("merge by addition, the same bits in any order", () => {
    const merged = mergeAll(parts);
    expect(merged.cases).toBe(16);
    expect(merged.coefSum).toEqual(parts[0]!.coefSum.map((x, j) => x + parts[1]!.coefSum[j]! + parts[2]!.coefSum[j]!));
    for (const order of [
      [2, 0, 1],
      [1, 2, 0],
      [2, 1, 0],
    ])
      expect(mergeAll(order.map((i) => parts[i]!))).toEqual(merged);
    expect(mergePartials(parts[0]!, mergePartials(parts[1]!, parts[2]!))).toEqual(merged);
    expect(parts[0]!.coefSum).toEqual(partial(1, 5).coefSum); // inputs untouched
  });

  it("rank as the mean coefficient beside each neuron's importance", () => {
    const merged = mergeAll(parts);
    for (const r of rankAttribution(merged, n).neurons)
      expect(r.coefMean).toBe(merged.coefSum[r.layer * dims.dMlp + r.neuron]! / 16);
  });

  it("refuse to merge a partial of another length, naming the field", () => {
    const short = { ...partial(4, 2), coefSum: [0] };
    expect(() => mergePartials(parts[0]!, short)).toThrow(/coefSum/);
  });
});

describe("attribution on a tiny Llama", () => {
  const root = mkdtempSync(join(tmpdir(), "cna-attr-coef-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  writeRandomCheckpoint(root, { seed: 5, family: "llama", heads: 4, kvHeads: 2 });
  const cases = [
    { id: 0, prefixIds: [5, 12, 7, 16], target: 9 },
    { id: 1, prefixIds: [3, 4, 12, 9, 16], target: 4 },
    { id: 2, prefixIds: [8, 13, 2, 16], target: 17 },
    { id: 3, prefixIds: [6, 12, 6, 16], target: 2 },
  ];

  it("sums each case's coefficient m, and shards of the cases merge to the whole", async () => {
    const ck = await loadCheckpoint(root);
    const { nLayer: L, dMlp: F } = ck.config;
    await using runner = new ModelRunner("llama", ck.config, ck.weights, { intraOpThreads: 1 });
    const whole = await attribution(runner, cases, { topK: 5 });
    // [B, L, F], one case at a time
    const coefs = await Promise.all(
      cases.map(
        async (c) => (await runner.forward({ sequences: [c.prefixIds], outputs: ["mlp_post"] })).outputs.mlp_post!,
      ),
    );
    const merged = mergeAll([
      await attribution(runner, cases.slice(0, 1), { topK: 5 }),
      await attribution(runner, cases.slice(1), { topK: 5 }),
    ]);
    expect(whole.coefSum).toHaveLength(L * F);
    whole.coefSum.forEach((s, j) => {
      const want = coefs.reduce((a, m) => a + m[j]!, 0);
      expect(Math.abs(s - want), `neuron ${j}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
      expect(Math.abs(merged.coefSum[j]! - s), `merged neuron ${j}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(s)));
    });
    expect(whole.coefSum.some((s) => s < 0) && whole.coefSum.some((s) => s > 0)).toBe(true);
  });
});
