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
  const words = new Uint32Array(unembed.data.buffer, unembed.data.byteOffset, V * D);
  const buckets = new Map<number, number[]>(); // row hash -> classes with that hash
  const first: number[] = []; // class -> its first row
  const size: number[] = [];
  const classOf = new Int32Array(V);
  const sameRows = (a: number, b: number): boolean => {
    for (let d = 0; d < D; d++) if (words[a * D + d] !== words[b * D + d]) return false;
    return true;
  };
  for (let v = 0; v < V; v++) {
    let h = 0x811c9dc5;
    for (let d = v * D; d < (v + 1) * D; d++) h = Math.imul(h ^ words[d]!, 0x01000193);
    const candidates = buckets.get(h);
    const found = candidates?.find((c) => sameRows(first[c]!, v));
    if (found !== undefined) {
      classOf[v] = found;
      size[found]!++;
      continue;
    }
    if (2 * first.length >= V) return null; // at least half the rows are distinct
    classOf[v] = first.length;
    if (candidates) candidates.push(first.length);
    else buckets.set(h, [first.length]);
    first.push(v);
    size.push(1);
  }
  const G = first.length;
  const rows = new Float32Array(G * D);
  first.forEach((v, c) => rows.set(unembed.data.subarray(v * D, (v + 1) * D), c * D));
  return { unembed: { data: rows, shape: [G, D] }, logCount: Float32Array.from(size, Math.log), classOf };
}
