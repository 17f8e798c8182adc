/**
 * The attribution kernel's moment GEMMs sum over the whole vocabulary. ONNX Runtime's CPU GEMM
 * splits a skinny product's work differently for different intra-op thread counts, and a plain
 * [C, V] x [V, B] MatMul then rounds differently: a worker with 1 thread and one with 4 would
 * store different bits for the same shard. The moment graph sums fixed vocabulary blocks in a
 * fixed order (vocabBlocks), so its output must be the same bits for every thread count, and
 * equal to the float64 moments within float32 rounding.
 */
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { buildMomentGraph, MOMENT_BLOCKS, vocabBlocks } from "../../worker/onnx/index.ts";

/**
 * A skinny shape on which a plain MatMul did give different bits for 1 and 4 threads (onnxruntime
 * 1.30 on x86-64: 231 of these 240 outputs), Llama-2's vocabulary.
 */
const V = 32000;
const B = 20;
const K = 12;
const DEGREE = 3;

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

const rnd = lcg(7);
const x = Float32Array.from({ length: K * V }, () => 2 * rnd() - 1); // [K, V], |x| ≤ 1 as the kernel's
const pT = Float32Array.from({ length: V * B }, () => rnd() / V); // [V, B]
const vb = vocabBlocks(V);

function blocked(rows: Float32Array, k: number): Float32Array {
  const out = new Float32Array(vb.blocks * k * vb.width);
  for (let i = 0; i < k; i++)
    for (let v = 0; v < V; v++) out[(Math.floor(v / vb.width) * k + i) * vb.width + (v % vb.width)] = rows[i * V + v]!;
  return out;
}

async function run(
  model: Uint8Array,
  threads: number,
  feeds: Record<string, ort.Tensor>,
  output: string,
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads });
  try {
    return (await session.run(feeds))[output]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe("moment graph", () => {
  it("cuts the vocabulary into at most MOMENT_BLOCKS blocks of a width that is a multiple of 16", () => {
    for (const vocab of [20, 50257, 32000, 128256, 151669]) {
      const { blocks, width, pad } = vocabBlocks(vocab);
      expect(blocks).toBeLessThanOrEqual(MOMENT_BLOCKS);
      expect(width % 16).toBe(0);
      expect(blocks * width - pad).toBe(vocab);
      expect(pad).toBeLessThan(width);
    }
  });

  it("gives the same bits for 1, 2, 3 and 4 threads, and the float64 moments within 1e-6 relative", async () => {
    const idx = BigInt64Array.from({ length: K }, (_, i) => BigInt(i));
    const feeds = {
      p_t: new ort.Tensor("float32", pT, [V, B]),
      x_b: new ort.Tensor("float32", blocked(x, K), [vb.blocks, K, vb.width]),
      idx: new ort.Tensor("int64", idx, [K]),
    };
    const model = buildMomentGraph(DEGREE, V);
    const mu = await run(model, 1, feeds, "mu");
    for (const threads of [2, 3, 4])
      expect(Array.from(await run(model, threads, feeds, "mu")), `${threads} threads`).toEqual(Array.from(mu));
    for (let n = 1; n <= DEGREE; n++) {
      for (let i = 0; i < K; i++) {
        for (let b = 0; b < B; b++) {
          let want = 0;
          let scale = 0;
          for (let v = 0; v < V; v++) {
            want += x[i * V + v]! ** n * pT[v * B + b]!;
            scale += Math.abs(x[i * V + v]! ** n * pT[v * B + b]!);
          }
          expect(Math.abs(mu[((n - 1) * K + i) * B + b]! - want), `mu${n}[${i}, ${b}]`).toBeLessThanOrEqual(
            1e-6 * scale,
          );
        }
      }
    }
  });
});
