/**
 * A checkpoint's tensors stay in their files until used: tensorRows reads the part asked for in
 * the file's dtype, and a runner whose graphs point into the files (a large model's) computes
 * everything without reading any tensor whole into memory.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeRandomCheckpoint } from "../../scripts/random-checkpoint.ts";
import type { RandomCheckpointOptions } from "../../scripts/random-checkpoint.ts";
import { loadCheckpoint, ModelRunner, NeuronScorer, tensorRows } from "../../worker/index.ts";
import type { ModelWeights, Tensor } from "../../worker/index.ts";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "cna-stored-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let written = 0;
function write(options: RandomCheckpointOptions): string {
  const dir = join(root, `m${written++}`);
  writeRandomCheckpoint(dir, { seed: 5, ...options });
  return dir;
}

/** The same weights, each tensor's `data` throwing: what reads a tensor whole fails. */
function poisoned(w: ModelWeights): ModelWeights {
  const copies = new Map<Tensor, Tensor>();
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit);
    if (typeof value !== "object" || value === null) return value;
    if ("stored" in value && "shape" in value) {
      const t = value as Tensor;
      let copy = copies.get(t);
      if (!copy) {
        copy = { shape: t.shape, stored: t.stored!, ...(t.source ? { source: t.source } : {}) } as Tensor;
        Object.defineProperty(copy, "data", {
          get: () => {
            throw new Error(`a tensor of shape [${t.shape.join(", ")}] was read whole`);
          },
        });
        copies.set(t, copy);
      }
      return copy;
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visit(v)]));
  };
  return visit(w) as ModelWeights;
}

describe("stored tensors", () => {
  it("are read in part through tensorRows, a range or strided columns, in the file's dtype", async () => {
    for (const dtype of ["F32", "BF16", "F16"] as const) {
      const ck = await loadCheckpoint(write({ family: "llama", dtype, hidden: 16, heads: 2, intermediate: 24 }));
      const w = ck.weights.layers[1]!.mlpOut.weight; // [D, F] = [16, 24], out-in
      expect(w.stored).toMatchObject({ dtype, count: 16 * 24 });
      const range = tensorRows(w, [30], 7);
      const columns = tensorRows(w, [3, 27, 51], 5); // rows 0..2 of a [16, 24] matrix, columns 3..7
      const data = w.data; // read whole only now
      expect(Array.from(range), dtype).toEqual(Array.from(data.subarray(30, 37)));
      expect(Array.from(columns), dtype).toEqual(
        [0, 1, 2].flatMap((r) => Array.from(data.subarray(r * 24 + 3, r * 24 + 8))),
      );
      expect(() => tensorRows(w, [380], 5)).toThrow(/outside the tensor's 384/);
    }
  });

  it("are never read whole by a runner whose graphs point into the files: forward, head sweep, neuron scores", async () => {
    const dir = write({
      family: "llama",
      dtype: "BF16",
      hidden: 32,
      heads: 4,
      kvHeads: 2,
      intermediate: 48,
      layers: 2,
    });
    const ck = await loadCheckpoint(dir);
    const options = {
      externalWeights: "always" as const,
      weightCacheDir: join(root, "cache"),
      digest: ck.digest,
      intraOpThreads: 1,
    };
    await using plain = new ModelRunner("plain", ck.config, ck.weights, options);
    await using lazy = new ModelRunner("lazy", ck.config, poisoned(ck.weights), options);
    const sequences = [
      [5, 12, 7, 16],
      [3, 4, 12],
    ];
    const outputs = ["logits", "resid_mid", "mlp_post", "final_scale"] as const;
    const [a, b] = await Promise.all([plain, lazy].map((r) => r.forward({ sequences, outputs: [...outputs] })));
    for (const o of outputs) expect(Array.from(b!.outputs[o]!), o).toEqual(Array.from(a!.outputs[o]!));
    const reads = sequences.map((s) => [{ index: s.length - 1, target: 3 }]);
    const [x, y] = await Promise.all([plain, lazy].map((r) => r.readout({ sequences, reads, sweep: true })));
    expect(Array.from(y!.targetProb)).toEqual(Array.from(x!.targetProb));
    const inputs = {
      batch: 2,
      residMid: a!.outputs.resid_mid!,
      mlpPost: a!.outputs.mlp_post!,
      scale: a!.outputs.final_scale!,
      target: [3, 9],
    };
    for (const method of ["u-matrix", "naive"] as const) {
      const [p, q] = await Promise.all(
        [plain, lazy].map((r) => new NeuronScorer(r, { method, uBudgetBytes: 0 }).score(inputs)),
      );
      expect(Array.from(q!), method).toEqual(Array.from(p!));
    }
  });
});
