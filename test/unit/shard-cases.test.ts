/**
 * A shard builds only its own cases: over a cell split into many shards, a worker tokenizes each
 * pair about once (not the whole cell per shard, which was quadratic), and the cases keep the
 * cell-wide ids the whole cell's case list gives them.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildCases, selectPairs } from "../../core/index.ts";
import type { ShardTask } from "../../core/index.ts";
import { loadCheckpoint, shardCases } from "../../worker/index.ts";

const MODEL = fileURLToPath(new URL("../../models/arith-2l-d64", import.meta.url));

describe("shardCases", () => {
  it("tokenizes each pair of a 20-shard cell once in order, at most twice out of order, with cell-wide ids", async () => {
    const ck = await loadCheckpoint(MODEL);
    let encodes = 0;
    const counted = {
      ...ck,
      tokenizer: { ...ck.tokenizer, encode: (t: string) => (encodes++, ck.tokenizer.encode(t)) },
    };
    const pairs = 200;
    const per = 10;
    const task = (start: number): ShardTask => ({
      sweepId: "s",
      stage: "head-ablation",
      topK: 5,
      target: "predicted",
      versions: { resultFormat: 1, method: 1 },
      cell: { model: "m", modelPath: MODEL, modelDigest: ck.digest, op: "-", digits: 2, template: 4 },
      pairs: { sample: pairs, seed: 3, start, end: start + per },
    });
    const whole = buildCases(selectPairs("-", 2, { sample: pairs, seed: 3 }), 4, ck.tokenizer);
    const starts = Array.from({ length: pairs / per }, (_, i) => i * per);
    // one pair is one prompt and one prompt+answer encode
    const run = (order: number[]) => {
      encodes = 0;
      const counts = new Map<string, Int32Array>();
      const got = order.flatMap((start) => shardCases(task(start), counted, counts));
      expect(got.sort((a, b) => a.id - b.id)).toEqual(whole);
      return encodes;
    };
    expect(run(starts)).toBe(2 * pairs);
    // out of order, as shards arrive: a later shard first counts the pairs before it, once
    expect(run([150, 0, 10, 160, ...starts.filter((s) => ![0, 10, 150, 160].includes(s))])).toBeLessThanOrEqual(
      2 * 2 * pairs,
    );
  });
});
