/**
 * Loading checkpoints of every family: HF tensor names and layouts, sharded files with
 * model.safetensors.index.json, F16 / BF16, and each way a checkpoint can be wrong, named by file
 * and field. External weights of a half-precision checkpoint go through a float32 cache file
 * keyed by the checkpoint's digest.
 */
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encodeSafetensors, writeRandomCheckpoint } from "../../scripts/random-checkpoint.ts";
import type { RandomCheckpointOptions } from "../../scripts/random-checkpoint.ts";
import {
  checkpointFiles,
  digestCheckpoint,
  headAblation,
  loadCheckpoint,
  ModelRunner,
  openSafetensors,
} from "../../worker/index.ts";

const root = mkdtempSync(join(tmpdir(), "cna-ckpt-families-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
function write(options: RandomCheckpointOptions): string {
  const dir = join(root, `m${counter++}`);
  writeRandomCheckpoint(dir, { seed: 3, ...options });
  return dir;
}

async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error("expected a rejection");
}

/** Rewrites one safetensors file of `dir` with `edit` applied to its F32 tensors. */
function rewrite(
  dir: string,
  file: string,
  edit: (t: Record<string, { dtype?: string; shape: number[]; data: Float32Array }>) => void,
): void {
  const f = openSafetensors(join(dir, file));
  const tensors = Object.fromEntries(f.names.map((n) => [n, { shape: f.info(n).shape, data: f.getFloat32(n) }]));
  f.close();
  edit(tensors);
  writeFileSync(join(dir, file), encodeSafetensors(tensors));
}

describe("loadCheckpoint, every family", () => {
  it("reads each family's tensors into one description: layout, GQA widths, fused per-head qkv, gate, q/k norms, unembedding bias", async () => {
    const llama = await loadCheckpoint(write({ family: "llama", heads: 4, kvHeads: 2 }));
    expect(llama.weights.layout).toBe("out-in");
    expect(llama.weights.layers[0]).toMatchObject({
      qkv: { q: { weight: { shape: [32, 32] } }, k: { weight: { shape: [16, 32] } } },
      mlpGate: { weight: { shape: [128, 32] } },
    });
    expect(llama.weights.layers[0]!.mlpNorm!.bias).toBeUndefined();
    const qwen3 = await loadCheckpoint(write({ family: "qwen3", hidden: 32, heads: 4, kvHeads: 2, headDim: 12 }));
    expect(qwen3.weights.layers[1]).toMatchObject({
      qNorm: { shape: [12] },
      kNorm: { shape: [12] },
      out: { weight: { shape: [32, 48] } },
    });
    const neox = await loadCheckpoint(write({ family: "gpt_neox" }));
    expect(neox.weights.layers[0]!.qkv).toMatchObject({
      order: "per-head",
      fused: { weight: { shape: [96, 32] }, bias: { shape: [96] } },
    });
    expect(neox.weights.unembed).not.toBe(neox.weights.embed);
    const gptj = await loadCheckpoint(write({ family: "gptj", rotaryDim: 4 }));
    expect(gptj.weights.layers[0]!.mlpNorm).toBeUndefined(); // ln_1 feeds both
    expect(gptj.weights.unembedBias!.shape).toEqual([gptj.config.vocabSize]);
    const tied = await loadCheckpoint(write({ family: "qwen2", tieWordEmbeddings: true }));
    expect(tied.weights.unembed).toBe(tied.weights.embed);
    expect(tied.weights.layers[0]!.qkv).toMatchObject({ q: { bias: { shape: [32] } } });
    expect(tied.weights.layers[0]!.out.bias).toBeUndefined();
  });

  it("reads shards through model.safetensors.index.json, and F16 / BF16 as their float32 values; the digest covers every shard", async () => {
    const f32 = await loadCheckpoint(write({ family: "llama", heads: 4, kvHeads: 2 }));
    const sharded = write({ family: "llama", heads: 4, kvHeads: 2, shards: 3 });
    const s = await loadCheckpoint(sharded);
    expect(Array.from(s.weights.layers[1]!.mlpOut.weight.data)).toEqual(
      Array.from(f32.weights.layers[1]!.mlpOut.weight.data),
    );
    expect(s.weights.layers[1]!.mlpOut.weight.source!.file).toMatch(/model-0000\d-of-00003\.safetensors$/);
    expect(checkpointFiles(sharded).filter((f) => f.startsWith("model"))).toEqual([
      "model.safetensors.index.json",
      "model-00001-of-00003.safetensors",
      "model-00002-of-00003.safetensors",
      "model-00003-of-00003.safetensors",
    ]);
    expect(Object.keys((await digestCheckpoint(sharded)).files)).toContain("model-00002-of-00003.safetensors");
    for (const dtype of ["F16", "BF16"] as const) {
      const half = await loadCheckpoint(write({ family: "llama", heads: 4, kvHeads: 2, dtype }));
      const a = half.weights.layers[0]!.mlpIn.weight.data,
        b = f32.weights.layers[0]!.mlpIn.weight.data;
      expect(half.weights.layers[0]!.mlpIn.weight.source).toBeUndefined(); // not float32 in its file
      expect(half.config.dtype).toBe(dtype === "F16" ? "float16" : "bfloat16");
      const tol = dtype === "F16" ? 2 ** -10 : 2 ** -7;
      for (let i = 0; i < a.length; i++)
        expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(tol * Math.abs(b[i]!) + 1e-7);
    }
  });

  it("names the file and the index field: a missing shard, a tensor the index puts in a shard that lacks it, an unlisted tensor, a shard outside the directory", async () => {
    const missing = write({ family: "llama", shards: 2 });
    unlinkSync(join(missing, "model-00002-of-00002.safetensors"));
    const a = await rejection(loadCheckpoint(missing));
    expect(a).toMatchObject({ code: "MODEL_NOT_FOUND", path: join(missing, "model-00002-of-00002.safetensors") });
    expect(a.message).toContain("model.safetensors.index.json field weight_map[");

    const moved = write({ family: "llama", shards: 2 });
    const index = JSON.parse(readFileSync(join(moved, "model.safetensors.index.json"), "utf8")) as {
      weight_map: Record<string, string>;
    };
    index.weight_map["model.norm.weight"] =
      index.weight_map["model.norm.weight"] === "model-00001-of-00002.safetensors"
        ? "model-00002-of-00002.safetensors"
        : "model-00001-of-00002.safetensors";
    writeFileSync(join(moved, "model.safetensors.index.json"), JSON.stringify(index));
    const b = await rejection(loadCheckpoint(moved));
    expect(b).toMatchObject({ code: "UNEXPECTED_TENSOR", tensor: "model.norm.weight" });
    expect(b.message).toContain('field weight_map["model.norm.weight"] puts it in');

    const ghost = write({ family: "llama", shards: 2 });
    const gi = JSON.parse(readFileSync(join(ghost, "model.safetensors.index.json"), "utf8")) as {
      weight_map: Record<string, string>;
    };
    gi.weight_map["model.layers.0.self_attn.extra.weight"] = "model-00001-of-00002.safetensors";
    writeFileSync(join(ghost, "model.safetensors.index.json"), JSON.stringify(gi));
    expect(await rejection(loadCheckpoint(ghost))).toMatchObject({
      code: "MISSING_TENSOR",
      tensor: "model.layers.0.self_attn.extra.weight",
      path: join(ghost, "model-00001-of-00002.safetensors"),
    });

    const escape = write({ family: "llama", shards: 2 });
    const ei = JSON.parse(readFileSync(join(escape, "model.safetensors.index.json"), "utf8")) as {
      weight_map: Record<string, string>;
    };
    ei.weight_map["model.norm.weight"] = "../../etc/passwd";
    writeFileSync(join(escape, "model.safetensors.index.json"), JSON.stringify(ei));
    const e = await rejection(loadCheckpoint(escape));
    expect(e).toMatchObject({ code: "SAFETENSORS_CORRUPT", path: join(escape, "model.safetensors.index.json") });
    expect(e.message).toContain(
      'field weight_map["model.norm.weight"] must be a file name in the checkpoint directory',
    );
    expect(() => checkpointFiles(escape)).toThrow(/must be a file name/); // the digest reads the same list
  });

  it("names the config field a shape disagrees with, a bias the config does not have, and an unsupported dtype", async () => {
    const kv = write({ family: "llama", heads: 4, kvHeads: 2 });
    const config = JSON.parse(readFileSync(join(kv, "config.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(kv, "config.json"), JSON.stringify({ ...config, num_key_value_heads: 4 }));
    const a = await rejection(loadCheckpoint(kv));
    expect(a).toMatchObject({
      code: "SHAPE_MISMATCH",
      tensor: "model.layers.0.self_attn.k_proj.weight",
      expected: [32, 32],
      actual: [16, 32],
      field: "num_key_value_heads",
      path: join(kv, "model.safetensors"),
    });
    expect(a.message).toContain("[num_key_value_heads*head_dim, hidden_size]");

    const neox = write({ family: "gpt_neox", attentionBias: true });
    const nc = JSON.parse(readFileSync(join(neox, "config.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(neox, "config.json"), JSON.stringify({ ...nc, attention_bias: false }));
    const b = await rejection(loadCheckpoint(neox));
    expect(b).toMatchObject({ code: "UNEXPECTED_TENSOR", tensor: "gpt_neox.layers.0.attention.query_key_value.bias" });

    const wide = write({ family: "mistral" });
    rewrite(
      wide,
      "model.safetensors",
      (t) => (t["model.layers.1.mlp.down_proj.weight"] = { shape: [32, 100], data: new Float32Array(3200) }),
    );
    expect(await rejection(loadCheckpoint(wide))).toMatchObject({
      code: "SHAPE_MISMATCH",
      field: "intermediate_size",
      expected: [32, 128],
      actual: [32, 100],
    });

    const int8 = write({ family: "qwen2" });
    const f = openSafetensors(join(int8, "model.safetensors"));
    const tensors: Record<string, unknown> = Object.fromEntries(
      f.names.map((n) => [n, { shape: f.info(n).shape, data: f.getFloat32(n) }]),
    );
    f.close();
    tensors["model.norm.weight"] = { dtype: "I8", shape: [32], bytes: new Uint8Array(32) };
    writeFileSync(join(int8, "model.safetensors"), encodeSafetensors(tensors as never));
    const d = await rejection(loadCheckpoint(int8));
    expect(d).toMatchObject({
      code: "UNKNOWN_DTYPE",
      tensor: "model.norm.weight",
      dtype: "I8",
      path: join(int8, "model.safetensors"),
    });
    expect(d.message).toContain("supported: F32, F16, BF16");
  });

  it("refuses a tokenizer with more ids than the embedding has rows", async () => {
    const dir = write({ family: "llama", tokenizer: "llama2", vocabSize: 32000 });
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, vocab_size: 31000 }));
    rewrite(dir, "model.safetensors", (t) => {
      for (const name of ["model.embed_tokens.weight", "lm_head.weight"])
        t[name] = { shape: [31000, 32], data: t[name]!.data.subarray(0, 31000 * 32) };
    });
    const err = await rejection(loadCheckpoint(dir));
    expect(err).toMatchObject({ code: "BAD_CONFIG", field: "vocab_size", path: join(dir, "config.json") });
    expect(err.message).toContain("tokenizer.json has ids up to 31999");
  });
});

describe("external weights of a half-precision checkpoint", () => {
  it("point into a float32 cache file keyed by the digest, reused by the next runner, and compute what inline weights do", async () => {
    const dir = write({ family: "qwen3", hidden: 32, heads: 4, kvHeads: 2, headDim: 12, dtype: "BF16" });
    const cacheDir = join(root, "cache");
    const ck = await loadCheckpoint(dir);
    const seqs = [
      [5, 12, 7, 16],
      [3, 4, 12],
    ];
    const inline = new ModelRunner("bf16", ck.config, ck.weights, { externalWeights: "never", intraOpThreads: 1 });
    const external = new ModelRunner("bf16", ck.config, ck.weights, {
      externalWeights: "always",
      weightCacheDir: cacheDir,
      digest: ck.digest,
      intraOpThreads: 1,
    });
    try {
      expect(external.externalWeights).toBe(true);
      const cache = join(cacheDir, `${ck.digest}-f32v1.bin`);
      expect(readdirSync(cacheDir)).toEqual([`${ck.digest}-f32v1.bin`]);
      const written = statSync(cache).mtimeMs;
      const outputs = ["logits", "mlp_post", "head_out", "final_scale"] as const;
      const a = await inline.forward({ sequences: seqs, outputs: [...outputs] });
      const b = await external.forward({ sequences: seqs, outputs: [...outputs] });
      for (const o of outputs) expect(Array.from(b.outputs[o]!), o).toEqual(Array.from(a.outputs[o]!));
      const again = new ModelRunner("bf16", ck.config, ck.weights, {
        externalWeights: "always",
        weightCacheDir: cacheDir,
        digest: ck.digest,
        intraOpThreads: 1,
      });
      expect(Array.from((await again.forward({ sequences: seqs, outputs: ["logits"] })).outputs.logits!)).toEqual(
        Array.from(a.outputs.logits!),
      );
      expect(statSync(cache).mtimeMs).toBe(written);
      await again.close();
      expect(existsSync(cache)).toBe(true); // kept for the next run of the same files
      // without a digest (or with the cache off) the converted file lives and dies with the runner's graphs
      const privateRunner = new ModelRunner("bf16-private", ck.config, ck.weights, {
        externalWeights: "always",
        weightCacheDir: null,
        digest: ck.digest,
      });
      expect(
        Array.from((await privateRunner.forward({ sequences: seqs, outputs: ["logits"] })).outputs.logits!),
      ).toEqual(Array.from(a.outputs.logits!));
      await privateRunner.close();
      expect(readdirSync(cacheDir)).toEqual([`${ck.digest}-f32v1.bin`]);
    } finally {
      await inline.close();
      await external.close();
    }
  });
});

describe("sliding window", () => {
  it("refuses a prompt longer than Mistral's sliding_window instead of attending past it", async () => {
    const dir = write({ family: "mistral" });
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, sliding_window: 4 }));
    const ck = await loadCheckpoint(dir);
    await using runner = new ModelRunner("mistral", ck.config, ck.weights, { intraOpThreads: 1 });
    expect((await runner.forward({ sequences: [[5, 12, 7, 16]], outputs: ["logits"] })).outputs.logits).toHaveLength(
      ck.config.vocabSize,
    );
    await expect(runner.forward({ sequences: [[5, 12, 7, 16, 9]], outputs: ["logits"] })).rejects.toMatchObject({
      code: "BAD_ENGINE_INPUT",
      message: expect.stringMatching(/5 tokens is longer than the model's sliding_window = 4/),
    });
    await expect(headAblation(runner, [{ id: 0, prefixIds: [5, 12, 7, 16, 9], target: 3 }])).rejects.toThrow(
      /longer than sliding_window = 4/,
    );
  });
});
