/**
 * Tokens whose unembedding rows are bit-identical get the same logit from every residual, and
 * so the same probability and the same U entries (onnx/attribution.ts). The importance kernel's
 * sums over the vocabulary can then run over one row per class, each weighted by its size:
 *   sum_v p_v f(v) = sum_c n_c p_c f(c),   logsumexp_v z_v = logsumexp_c (z_c + log n_c).
 * Checkpoints with many untrained rows gain the most: a model trained on a few task tokens of a
 * 128k vocabulary (the zoo's real-tokenizer models) keeps exactly zero rows for the rest, and
 * real checkpoints pad or reserve rows they never train. Where fewer than half the rows repeat,
 * nothing changes (vocabClasses gives null) and no second copy of the unembedding is made.
 */
import { tensorRows } from "../model/weights.ts";
import type { Tensor } from "../model/weights.ts";

export interface VocabClasses {
  /** [G, D]: the first row of each class, classes in order of first appearance */
  unembed: Tensor;
  /** [G]: log of each class's size */
  logCount: Float32Array;
  /** [V]: each token's class */
  classOf: Int32Array;
}

/** The classes of identical rows of `unembed` [V, D], or null when they would save less than half the rows. */
export function vocabClasses(unembed: Tensor): VocabClasses | null {
  const [V, D] = unembed.shape as [number, number];
  const buckets = new Map<number, number[]>(); // row hash -> classes with that hash
  const first: number[] = []; // class -> its first row
  const size: number[] = [];
  const classOf = new Int32Array(V);
  // Read a block of rows at a time (tensorRows): a checkpoint's unembedding is never pulled into
  // memory whole, and a class's first row is kept only once another row's hash matches it.
  const kept = new Map<number, Uint32Array>();
  const bitsOf = (c: number): Uint32Array => {
    let row = kept.get(c);
    if (row === undefined) {
      const values = tensorRows(unembed, [first[c]! * D], D);
      kept.set(c, (row = Uint32Array.from(new Uint32Array(values.buffer, values.byteOffset, D))));
    }
    return row;
  };
  const rowsPerRead = Math.max(1, Math.floor(2 ** 22 / D));
  for (let v0 = 0; v0 < V; v0 += rowsPerRead) {
    const n = Math.min(rowsPerRead, V - v0);
    const values = tensorRows(unembed, [v0 * D], n * D);
    const words = new Uint32Array(values.buffer, values.byteOffset, n * D);
    for (let i = 0; i < n; i++) {
      const row = words.subarray(i * D, (i + 1) * D);
      let h = 0x811c9dc5;
      for (let d = 0; d < D; d++) h = Math.imul(h ^ row[d]!, 0x01000193);
      const candidates = buckets.get(h);
      const found = candidates?.find((c) => sameBits(bitsOf(c), row, D));
      if (found !== undefined) {
        classOf[v0 + i] = found;
        size[found]!++;
        continue;
      }
      if (2 * first.length >= V) return null; // at least half the rows are distinct
      classOf[v0 + i] = first.length;
      if (candidates) candidates.push(first.length);
      else buckets.set(h, [first.length]);
      first.push(v0 + i);
      size.push(1);
    }
  }
  const G = first.length;
  const rows = new Float32Array(G * D);
  const bits = new Uint32Array(rows.buffer);
  for (let c = 0; c < G; c++) bits.set(bitsOf(c), c * D);
  return { unembed: { data: rows, shape: [G, D] }, logCount: Float32Array.from(size, Math.log), classOf };
}

function sameBits(a: Uint32Array, b: Uint32Array, D: number): boolean {
  for (let d = 0; d < D; d++) if (a[d] !== b[d]) return false;
  return true;
}
