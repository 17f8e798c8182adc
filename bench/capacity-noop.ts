/** The no-op stage of the capacity benchmark: a real ShardWorker whose executor returns a precomputed partial. */
import { decodePartial, encodePartial } from "../core/index.ts";
import type { HeadAblationPartial, ResultSink, ShardQueue, ShardTask } from "../core/index.ts";
import { ModelCache, ShardWorker } from "../worker/index.ts";

/** dims of arith-2l-d64: the partial's size is that of a real zoo head-ablation shard */
const DIMS = { nLayer: 2, nHead: 4, dMlp: 256 };

export function noopPartial(): Uint8Array {
  const n = DIMS.nLayer * DIMS.nHead;
  const p: HeadAblationPartial = {
    kind: "head-ablation",
    dims: DIMS,
    cases: 1,
    baselineCorrect: 1,
    baselineProbSum: 0.5,
    correct: Array<number>(n).fill(1),
    probSum: Array<number>(n).fill(0.25),
  };
  return encodePartial(p);
}

/** Concurrency 1, as `cna worker` defaults to; the stage returns `result` at once. */
export function noopWorker(
  id: string,
  queue: ShardQueue<ShardTask>,
  sink: ResultSink,
  result: Uint8Array,
): ShardWorker {
  const partial = decodePartial(result);
  return new ShardWorker(queue, sink, new ModelCache(), { id, pullTimeoutMs: 100, execute: async () => partial });
}
