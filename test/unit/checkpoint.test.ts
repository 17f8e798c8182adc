import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadCheckpoint, loadTokenizer } from "../../worker/index.ts";
import { VOCAB_CHARS, u16Bytes, writeGpt2Checkpoint } from "../helpers/checkpoint.ts";
import type { Gpt2CheckpointOptions } from "../helpers/checkpoint.ts";

const root = mkdtempSync(join(tmpdir(), "cna-checkpoint-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
/** A fresh checkpoint directory per test. */
function checkpoint(options: Gpt2CheckpointOptions = {}): string {
  const dir = join(root, `ckpt-${counter++}`);
  writeGpt2Checkpoint(dir, options);
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

describe("loadCheckpoint", () => {
  it("loads a zoo-style checkpoint (transformer. prefix) with shapes from the config", async () => {
    const dir = checkpoint({ nLayer: 2, nHead: 2, nEmbd: 8, nPositions: 16 });
    const ckpt = await loadCheckpoint(dir);
    expect(ckpt.dir).toBe(dir);
    expect(ckpt.config).toMatchObject({ nLayer: 2, nHead: 2, dModel: 8, dHead: 4, dMlp: 32, vocabSize: 49 });
    const { layout, embed, positions, layers, finalNorm, unembed } = ckpt.weights;
    expect(layout).toBe("in-out");
    expect(embed.shape).toEqual([49, 8]);
    expect(embed.data).toHaveLength(392);
    expect(positions!.shape).toEqual([16, 8]);
    expect(layers).toHaveLength(2);
    expect(layers[1]!.qkv).toMatchObject({
      order: "blocks",
      fused: { weight: { shape: [8, 24] }, bias: { shape: [24] } },
    });
    expect(layers[1]!.out.weight.shape).toEqual([8, 8]);
    expect(layers[0]!.mlpIn.bias!.shape).toEqual([32]);
    expect(layers[0]!.mlpOut.weight.shape).toEqual([32, 8]);
    expect(finalNorm.weight.shape).toEqual([8]);
    expect(unembed).toBe(embed); // tied
    // the content digest: every file read, each by its sha256
    const sha = (f: string) =>
      createHash("sha256")
        .update(readFileSync(join(dir, f)))
        .digest("hex");
    const files = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"].filter((f) =>
      existsSync(join(dir, f)),
    );
    expect(ckpt.digest).toBe(
      createHash("sha256")
        .update(files.map((f) => `${f} ${sha(f)}\n`).join(""))
        .digest("hex"),
    );
  });

  it("loads values in file order (row-major)", async () => {
    let expected: Float32Array | undefined;
    const dir = checkpoint({
      edit: (t) => {
        expected = new Float32Array(Array.from({ length: 24 }, (_, i) => i / 8));
        t["transformer.h.1.attn.c_attn.bias"] = { shape: [24], data: expected };
      },
    });
    const ckpt = await loadCheckpoint(dir);
    const qkv = ckpt.weights.layers[1]!.qkv;
    expect("fused" in qkv && [...qkv.fused.bias!.data]).toEqual([...expected!]);
  });

  it("accepts real GPT-2 key names (no prefix), attention buffers, and a tied lm_head", async () => {
    const dir = checkpoint({
      prefix: "",
      edit: (t) => {
        t["h.0.attn.bias"] = { shape: [1, 1, 16, 16], data: new Float32Array(256) };
        t["h.1.attn.masked_bias"] = { shape: [], data: new Float32Array([-1e4]) };
        t["lm_head.weight"] = t["wte.weight"]!;
      },
    });
    const ckpt = await loadCheckpoint(dir);
    expect(ckpt.weights.layers).toHaveLength(2);
    expect(ckpt.weights.unembed).toBe(ckpt.weights.embed);
  });

  it("loads F16 weights as float32", async () => {
    const dir = checkpoint({
      edit: (t) =>
        (t["transformer.ln_f.bias"] = {
          dtype: "F16",
          shape: [8],
          bytes: u16Bytes([0x3c00, 0xc100, 0x7bff, 1, 0, 0, 0, 0]),
        }),
    });
    const ckpt = await loadCheckpoint(dir);
    expect([...ckpt.weights.finalNorm.bias!.data.slice(0, 4)]).toEqual([1, -2.5, 65504, 2 ** -24]);
  });

  it("loads lm_head when embeddings are untied, and requires it", async () => {
    const dir = checkpoint({
      config: { tie_word_embeddings: false },
      edit: (t) => (t["lm_head.weight"] = { shape: [49, 8], data: new Float32Array(392).fill(0.5) }),
    });
    const untied = (await loadCheckpoint(dir)).weights;
    expect(untied.unembed).not.toBe(untied.embed);
    expect([untied.unembed.shape, untied.unembed.data[0]]).toEqual([[49, 8], 0.5]);
    const missing = checkpoint({ config: { tie_word_embeddings: false } });
    expect(await rejection(loadCheckpoint(missing))).toMatchObject({
      code: "MISSING_TENSOR",
      tensor: "lm_head.weight",
    });
  });

  it("names a missing directory or file MODEL_NOT_FOUND", async () => {
    const nowhere = join(root, "does-not-exist");
    expect(await rejection(loadCheckpoint(nowhere))).toMatchObject({
      code: "MODEL_NOT_FOUND",
      path: nowhere,
      retryable: false,
    });
    for (const file of ["config.json", "model.safetensors", "tokenizer.json"]) {
      const dir = checkpoint();
      unlinkSync(join(dir, file));
      const err = await rejection(loadCheckpoint(dir));
      expect(err).toMatchObject({ code: "MODEL_NOT_FOUND", path: join(dir, file) });
      expect(err.message).toContain(join(dir, file));
    }
  });

  it("names a missing tensor", async () => {
    const dir = checkpoint({ edit: (t) => delete t["transformer.h.1.mlp.c_fc.bias"] });
    const err = await rejection(loadCheckpoint(dir));
    expect(err).toMatchObject({
      name: "MissingTensorError",
      code: "MISSING_TENSOR",
      tensor: "transformer.h.1.mlp.c_fc.bias",
      path: join(dir, "model.safetensors"),
    });
  });

  it("names tensor, shapes and config field on a shape mismatch", async () => {
    const dir = checkpoint({
      edit: (t) => (t["transformer.h.0.mlp.c_fc.weight"] = { shape: [8, 20], data: new Float32Array(160) }),
    });
    const err = await rejection(loadCheckpoint(dir));
    expect(err).toMatchObject({
      code: "SHAPE_MISMATCH",
      tensor: "transformer.h.0.mlp.c_fc.weight",
      expected: [8, 32],
      actual: [8, 20],
      field: "n_inner",
    });
    expect(err.message).toContain("[8, 20], expected [8, 32] = [n_embd, n_inner]");
    const wrongVocab = checkpoint({ config: { vocab_size: 64 } });
    expect(await rejection(loadCheckpoint(wrongVocab))).toMatchObject({
      code: "SHAPE_MISMATCH",
      tensor: "transformer.wte.weight",
      field: "vocab_size",
    });
    const wrongRank = checkpoint({
      edit: (t) => (t["transformer.ln_f.weight"] = { shape: [1, 8], data: new Float32Array(8) }),
    });
    expect(await rejection(loadCheckpoint(wrongRank))).toMatchObject({ code: "SHAPE_MISMATCH", field: "n_embd" });
  });

  it("refuses tensors beyond n_layer and foreign tensors", async () => {
    const extraLayer = checkpoint({ nLayer: 3, config: { n_layer: 2 } });
    const err = await rejection(loadCheckpoint(extraLayer));
    expect(err).toMatchObject({ code: "UNEXPECTED_TENSOR" });
    expect(err.message).toContain("n_layer is 2");
    const foreign = checkpoint({ edit: (t) => (t["score.weight"] = { shape: [2, 8], data: new Float32Array(16) }) });
    expect(await rejection(loadCheckpoint(foreign))).toMatchObject({
      code: "UNEXPECTED_TENSOR",
      tensor: "score.weight",
    });
  });

  it("refuses an unsupported architecture naming config.json", async () => {
    const dir = checkpoint({ config: { model_type: "bert" } });
    const err = await rejection(loadCheckpoint(dir));
    expect(err).toMatchObject({ code: "UNSUPPORTED_ARCHITECTURE", path: join(dir, "config.json") });
    expect(err.message).toBe(
      `unsupported architecture "bert" in ${join(dir, "config.json")} (supported: gpt2, llama, mistral, qwen2, qwen3, gpt_neox, gptj)`,
    );
  });

  it("refuses a tokenizer with more ids than vocab_size, and corrupt JSON files", async () => {
    const small = checkpoint({
      config: { vocab_size: 40 },
      edit: (t) => (t["transformer.wte.weight"] = { shape: [40, 8], data: new Float32Array(320) }),
    });
    expect(await rejection(loadCheckpoint(small))).toMatchObject({ code: "BAD_CONFIG", field: "vocab_size" });
    const badConfig = checkpoint();
    writeFileSync(join(badConfig, "config.json"), "{ nope");
    expect(await rejection(loadCheckpoint(badConfig))).toMatchObject({
      code: "BAD_CONFIG",
      path: join(badConfig, "config.json"),
    });
    const badTokenizer = checkpoint();
    writeFileSync(join(badTokenizer, "tokenizer.json"), "{ nope");
    expect(await rejection(loadCheckpoint(badTokenizer))).toMatchObject({
      code: "BAD_TOKENIZER",
      path: join(badTokenizer, "tokenizer.json"),
    });
  });
});

describe("loadTokenizer (char-level, as models/arith.py writes it)", () => {
  const dir = checkpoint();
  const tokenizer = loadTokenizer(dir);
  const id = (ch: string) => VOCAB_CHARS.indexOf(ch) + 1;

  it("encodes one id per character with no start token", () => {
    expect(tokenizer.encode("3+5=")).toEqual([5, 12, 7, 16]);
    expect(tokenizer.encode("12 plus 7 is ")).toEqual([3, 4, 1, 38, 34, 43, 41, 1, 9, 1, 31, 41, 1]);
    expect(tokenizer.encode("12 plus 7 is ")).toEqual([..."12 plus 7 is "].map(id));
  });

  it("decodes, maps tokens, and knows its size and end token", () => {
    expect(tokenizer.decode([5, 12, 7, 16])).toBe("3+5=");
    expect(tokenizer.decode([])).toBe("");
    expect(tokenizer.tokenToId("=")).toBe(16);
    expect(tokenizer.tokenToId("<|endoftext|>")).toBe(0);
    expect(tokenizer.tokenToId("Z")).toBeUndefined();
    expect(tokenizer.vocabSize).toBe(49);
    expect(tokenizer.eosId).toBe(0);
  });

  it("refuses a character outside the vocabulary", () => {
    // The library drops such characters silently (no unk token); Python's encode raises.
    expect(() => tokenizer.encode("3+5=Z")).toThrow(
      expect.objectContaining({ code: "TOKENIZATION_FAILED", text: "3+5=Z" }),
    );
    expect(() => tokenizer.encode("ZZ")).toThrow(expect.objectContaining({ code: "TOKENIZATION_FAILED" }));
    expect(tokenizer.encode("<|endoftext|>3")).toEqual([0, 5]);
    expect(tokenizer.decode([0, 5])).toBe("<|endoftext|>3");
  });

  it("works without tokenizer_config.json", () => {
    const bare = checkpoint();
    unlinkSync(join(bare, "tokenizer_config.json"));
    const tok = loadTokenizer(bare);
    expect(tok.encode("7*8=")).toEqual([id("7"), id("*"), id("8"), id("=")]);
    expect(tok.eosId).toBeUndefined();
  });
});
