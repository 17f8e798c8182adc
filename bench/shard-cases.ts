/**
 * Case building per shard: a cell of many pairs split into small shards, built the way a worker
 * builds them (shardCases: its own pairs, earlier pairs counted once per worker) against
 * tokenizing the whole cell for every shard. Tokenizer calls are counted, time measured.
 */
import { buildCases, selectPairs } from "../core/index.ts";
import type { ShardTask } from "../core/index.ts";
import { shardCases } from "../worker/index.ts";
import type { Checkpoint } from "../worker/index.ts";
import { round } from "./timing.ts";

export interface ShardCasesFigures {
  pairs: number;
  pairsPerShard: number;
  perShard: { encodes: number; seconds: number };
  wholeCellPerShard: { encodes: number; seconds: number };
}

export function benchShardCases(ck: Checkpoint, pairs = 1000, pairsPerShard = 10): ShardCasesFigures {
  let encodes = 0;
  const counted: Checkpoint = {
    ...ck,
    tokenizer: { ...ck.tokenizer, encode: (t: string) => (encodes++, ck.tokenizer.encode(t)) },
  };
  const cellPairs = selectPairs("+", 2, { sample: pairs, seed: 0 });
  const starts = Array.from({ length: Math.ceil(pairs / pairsPerShard) }, (_, i) => i * pairsPerShard);
  const task = (start: number): ShardTask => ({
    sweepId: "bench",
    stage: "head-ablation",
    topK: 1,
    target: "predicted",
    versions: { resultFormat: 1, method: 1 },
    cell: { model: "m", modelPath: ck.dir, modelDigest: ck.digest, op: "+", digits: 2, template: 4 },
    pairs: { sample: pairs, seed: 0, start, end: Math.min(pairs, start + pairsPerShard) },
  });
  const time = (build: () => void) => {
    encodes = 0;
    const t0 = performance.now();
    build();
    return { encodes, seconds: round((performance.now() - t0) / 1000) };
  };
  const counts = new Map<string, Int32Array>();
  const perShard = time(() => starts.forEach((s) => shardCases(task(s), counted, counts)));
  const wholeCellPerShard = time(() => starts.forEach(() => buildCases(cellPairs, 4, counted.tokenizer)));
  return { pairs, pairsPerShard, perShard, wholeCellPerShard };
}
