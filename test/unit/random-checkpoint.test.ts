/**
 * scripts/random-checkpoint.ts: Hugging Face's layout for every family (config keys, tensor
 * names and shapes as transformers saves them), the same bytes for the same options, values
 * independent of dtype, shards and chunking, correct half-precision rounding, real tokenizers,
 * options refused by name, and the CLI.
 */
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCheckpoint, loadTokenizer, openSafetensors } from "../../worker/index.ts";
import {
  bf16Bits,
  CheckpointOptionError,
  encodeSafetensors,
  f16Bits,
  INDEX_FILE,
  PRESETS,
  realTokenizerFiles,
  splitIntoShards,
  u16Bytes,
  writeRandomCheckpoint,
} from "../../scripts/random-checkpoint.ts";
import type { RandomCheckpointOptions, WrittenCheckpoint } from "../../scripts/random-checkpoint.ts";
import { ROOT } from "../helpers/golden.ts";

const work = mkdtempSync(join(tmpdir(), "cna-random-ckpt-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const write = (options: RandomCheckpointOptions, chunkValues?: number): WrittenCheckpoint =>
  writeRandomCheckpoint(join(work, `c${n++}`), options, chunkValues === undefined ? {} : { chunkValues });
const config = (w: WrittenCheckpoint) =>
  JSON.parse(readFileSync(join(w.dir, "config.json"), "utf8")) as Record<string, unknown>;
/** name → shape, over every weight file */
const shapes = (w: WrittenCheckpoint) =>
  Object.fromEntries(
    w.files.flatMap((f) => {
      const st = openSafetensors(join(w.dir, f));
      return st.names.map((name) => [name, st.info(name).shape]);
    }),
  );
const values = (w: WrittenCheckpoint, name: string) =>
  openSafetensors(join(w.dir, w.tensors.find((t) => t.name === name)!.file)).getFloat32(name);

describe("random checkpoints: Hugging Face layout", () => {
  it("llama: GQA shapes, biases when asked, untied lm_head, transformers' config keys", () => {
    const w = write({
      family: "llama",
      hidden: 32,
      heads: 4,
      kvHeads: 2,
      intermediate: 48,
      attentionBias: true,
      mlpBias: true,
    });
    const s = shapes(w);
    expect(s["model.embed_tokens.weight"]).toEqual([49, 32]);
    expect(s["model.layers.1.self_attn.q_proj.weight"]).toEqual([32, 32]);
    expect(s["model.layers.1.self_attn.k_proj.weight"]).toEqual([16, 32]);
    expect(s["model.layers.1.self_attn.v_proj.bias"]).toEqual([16]);
    expect(s["model.layers.1.self_attn.o_proj.bias"]).toEqual([32]);
    expect(s["model.layers.0.mlp.gate_proj.weight"]).toEqual([48, 32]);
    expect(s["model.layers.0.mlp.down_proj.weight"]).toEqual([32, 48]);
    expect(s["model.layers.0.mlp.down_proj.bias"]).toEqual([32]);
    expect(s["lm_head.weight"]).toEqual([49, 32]);
    expect(config(w)).toMatchObject({
      model_type: "llama",
      architectures: ["LlamaForCausalLM"],
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 8,
      intermediate_size: 48,
      num_hidden_layers: 2,
      vocab_size: 49,
      hidden_act: "silu",
      rope_theta: 10000,
      rope_scaling: null,
      rms_norm_eps: 1e-5,
      tie_word_embeddings: false,
      attention_bias: true,
      mlp_bias: true,
      torch_dtype: "float32",
    });
  });

  it("llama: tied embeddings leave lm_head out; rope_scaling is written as Llama checkpoints write it", () => {
    const llama3 = write(PRESETS["llama-rope-llama3"]!);
    expect(config(llama3)["rope_scaling"]).toEqual({
      factor: 8,
      high_freq_factor: 4,
      low_freq_factor: 1,
      original_max_position_embeddings: 64,
      rope_type: "llama3",
    });
    expect(config(write(PRESETS["llama-rope-linear"]!))["rope_scaling"]).toEqual({ type: "linear", factor: 2 });
    const tied = write({ family: "llama", tieWordEmbeddings: true });
    expect(Object.keys(shapes(tied))).not.toContain("lm_head.weight");
    expect(config(tied)["tie_word_embeddings"]).toBe(true);
  });

  it("mistral, qwen2, qwen3: their biases, q/k norms and an explicit head_dim", () => {
    const mistral = shapes(write({ family: "mistral", heads: 4, kvHeads: 1 }));
    expect(Object.keys(mistral).filter((k) => k.endsWith(".bias"))).toEqual([]);
    const qwen2 = shapes(write({ family: "qwen2", heads: 4, kvHeads: 2 }));
    expect(qwen2["model.layers.0.self_attn.q_proj.bias"]).toEqual([32]);
    expect(qwen2["model.layers.0.self_attn.k_proj.bias"]).toEqual([16]);
    expect(qwen2["model.layers.0.self_attn.o_proj.bias"]).toBeUndefined();
    const q3 = write({ family: "qwen3", hidden: 32, heads: 4, kvHeads: 2, headDim: 12 });
    const qwen3 = shapes(q3);
    expect(qwen3["model.layers.0.self_attn.q_proj.weight"]).toEqual([48, 32]);
    expect(qwen3["model.layers.0.self_attn.k_proj.weight"]).toEqual([24, 32]);
    expect(qwen3["model.layers.0.self_attn.o_proj.weight"]).toEqual([32, 48]);
    expect(qwen3["model.layers.0.self_attn.q_norm.weight"]).toEqual([12]);
    expect(qwen3["model.layers.0.self_attn.k_norm.weight"]).toEqual([12]);
    expect(config(q3)).toMatchObject({ model_type: "qwen3", head_dim: 12, attention_bias: false, rms_norm_eps: 1e-6 });
  });

  it("gpt_neox: fused query_key_value, LayerNorms with bias, untied embed_out, Pythia's config keys", () => {
    const w = write({
      family: "gpt_neox",
      hidden: 32,
      heads: 4,
      intermediate: 64,
      parallelResidual: false,
      rotaryPct: 0.5,
    });
    const s = shapes(w);
    expect(s["gpt_neox.embed_in.weight"]).toEqual([49, 32]);
    expect(s["gpt_neox.layers.0.attention.query_key_value.weight"]).toEqual([96, 32]);
    expect(s["gpt_neox.layers.0.attention.query_key_value.bias"]).toEqual([96]);
    expect(s["gpt_neox.layers.0.attention.dense.bias"]).toEqual([32]);
    expect(s["gpt_neox.layers.0.input_layernorm.bias"]).toEqual([32]);
    expect(s["gpt_neox.layers.0.post_attention_layernorm.weight"]).toEqual([32]);
    expect(s["gpt_neox.layers.1.mlp.dense_h_to_4h.weight"]).toEqual([64, 32]);
    expect(s["gpt_neox.layers.1.mlp.dense_4h_to_h.weight"]).toEqual([32, 64]);
    expect(s["gpt_neox.final_layer_norm.bias"]).toEqual([32]);
    expect(s["embed_out.weight"]).toEqual([49, 32]);
    expect(config(w)).toMatchObject({
      model_type: "gpt_neox",
      architectures: ["GPTNeoXForCausalLM"],
      use_parallel_residual: false,
      rotary_pct: 0.5,
      rotary_emb_base: 10000,
      layer_norm_eps: 1e-5,
      hidden_act: "gelu",
      attention_bias: true,
      tie_word_embeddings: false,
    });
  });

  it("gptj: q/k/v/out_proj without bias, fc_in/fc_out with, lm_head with a bias, GPT-J's config keys", () => {
    const w = write({ family: "gptj", hidden: 32, heads: 4, rotaryDim: 4 });
    const s = shapes(w);
    expect(s["transformer.h.0.attn.q_proj.weight"]).toEqual([32, 32]);
    expect(s["transformer.h.0.attn.q_proj.bias"]).toBeUndefined();
    expect(s["transformer.h.0.attn.out_proj.bias"]).toBeUndefined();
    expect(s["transformer.h.0.mlp.fc_in.bias"]).toEqual([128]);
    expect(s["transformer.h.0.ln_1.bias"]).toEqual([32]);
    expect(s["transformer.h.0.ln_2.weight"]).toBeUndefined();
    expect(s["lm_head.bias"]).toEqual([49]);
    expect(config(w)).toMatchObject({
      model_type: "gptj",
      n_embd: 32,
      n_head: 4,
      n_layer: 2,
      rotary_dim: 4,
      n_positions: 128,
      activation_function: "gelu_new",
      layer_norm_epsilon: 1e-5,
    });
  });

  it("gpt2 checkpoints load in the engine as they are", async () => {
    const w = write({ family: "gpt2", hidden: 16, heads: 2 });
    const ck = await loadCheckpoint(w.dir);
    expect([ck.config.nLayer, ck.config.nHead, ck.config.dModel, ck.config.dMlp, ck.config.vocabSize]).toEqual([
      2, 2, 16, 64, 49,
    ]);
  });
});

describe("random checkpoints: bytes", () => {
  it("are the same for the same options, and differ with the seed", () => {
    const files = (w: WrittenCheckpoint) =>
      Object.fromEntries(readdirSync(w.dir).map((f) => [f, readFileSync(join(w.dir, f))]));
    const a = files(write({ family: "qwen3", heads: 4, kvHeads: 2, dtype: "BF16" }));
    const b = files(write({ family: "qwen3", heads: 4, kvHeads: 2, dtype: "BF16" }));
    expect(Object.keys(a)).toEqual(Object.keys(b));
    for (const f of Object.keys(a)) expect(a[f]!.equals(b[f]!), f).toBe(true);
    const c = files(write({ family: "qwen3", heads: 4, kvHeads: 2, dtype: "BF16", seed: 2 }));
    expect(a["model.safetensors"]!.equals(c["model.safetensors"]!)).toBe(false);
  });

  it("hold the same values whatever the shards and chunk size, rounded to BF16 and F16 to nearest even", () => {
    const options: RandomCheckpointOptions = { family: "gpt_neox", hidden: 32, heads: 4, intermediate: 64 };
    const single = write(options);
    const sharded = write({ ...options, shards: 3 }, 7);
    const bf16 = write({ ...options, dtype: "BF16" });
    const f16 = write({ ...options, dtype: "F16" });
    for (const t of single.tensors) {
      const want = values(single, t.name);
      expect(values(sharded, t.name), t.name).toEqual(want);
      const gotBf16 = values(bf16, t.name);
      const gotF16 = values(f16, t.name);
      want.forEach((v, i) => {
        expect(bf16Bits(gotBf16[i]!)).toBe(bf16Bits(v));
        expect(f16Bits(gotF16[i]!)).toBe(f16Bits(v));
      });
    }
  });

  it("bf16Bits and f16Bits round to nearest, ties to even, with subnormals and overflow", () => {
    expect(bf16Bits(1 + 2 ** -8)).toBe(0x3f80); // halfway between 1 and 1 + 2^-7: to the even one
    expect(bf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(bf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(bf16Bits(-2)).toBe(0xc000);
    expect(f16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(f16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f16Bits(2 ** -25)).toBe(0x0000); // half the smallest subnormal: to even, 0
    expect(f16Bits(3 * 2 ** -25)).toBe(0x0002);
    expect(f16Bits(-(2 ** -24))).toBe(0x8001);
    expect(f16Bits(65504)).toBe(0x7bff);
    expect(f16Bits(65520)).toBe(0x7c00); // halfway to 65536, which is past the largest finite
    // every binary16 value, decoded by the engine's reader, encodes back to its own bits
    const all = Array.from({ length: 65536 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0);
    const path = join(work, "all-f16.safetensors");
    writeFileSync(path, encodeSafetensors({ t: { dtype: "F16", shape: [all.length], bytes: u16Bytes(all) } }));
    const decoded = openSafetensors(path).getFloat32("t");
    all.forEach((h, i) => expect(f16Bits(decoded[i]!)).toBe(h));
  });

  it("shards in model order, listed by model.safetensors.index.json with the tensors' total size", () => {
    const w = write({ family: "llama", shards: 2, dtype: "BF16" });
    expect(w.files).toEqual(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
    expect(existsSync(join(w.dir, "model.safetensors"))).toBe(false);
    const index = JSON.parse(readFileSync(join(w.dir, INDEX_FILE), "utf8")) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    const inFiles = Object.fromEntries(
      w.files.flatMap((f) => openSafetensors(join(w.dir, f)).names.map((name) => [name, f])),
    );
    expect(index.weight_map).toEqual(inFiles);
    expect(Object.keys(index.weight_map)).toEqual(Object.keys(index.weight_map).sort());
    const bytes = w.files.flatMap((f) => {
      const st = openSafetensors(join(w.dir, f));
      return st.names.map((name) => st.info(name).dataOffsets[1] - st.info(name).dataOffsets[0]);
    });
    expect(index.metadata.total_size).toBe(bytes.reduce((a, b) => a + b, 0));
    expect(inFiles["model.embed_tokens.weight"]).toBe(w.files[0]);
    expect(inFiles["model.norm.weight"]).toBe(w.files[1]);
    expect(splitIntoShards([100, 1, 1, 1], 3)).toEqual([[0], [1], [2, 3]]);
    expect(splitIntoShards([1, 1, 1, 1], 4)).toEqual([[0], [1], [2], [3]]);
  });
});

describe("random checkpoints: tokenizers and options", () => {
  it("copy a real tokenizer and size the vocabulary as the engine counts it", () => {
    for (const name of ["llama2", "llama3", "qwen3"] as const) {
      const w = write({ family: "llama", hidden: 8, heads: 2, intermediate: 8, layers: 1, tokenizer: name });
      for (const f of ["tokenizer.json", "tokenizer_config.json"])
        expect(readFileSync(join(w.dir, f)).equals(readFileSync(join(realTokenizerFiles(name), f))), f).toBe(true);
      expect(w.vocabSize, name).toBe(loadTokenizer(w.dir).vocabSize);
      expect(config(w)["vocab_size"]).toBe(w.vocabSize);
    }
    expect(() => write({ family: "llama", tokenizer: "llama2", vocabSize: 31999 })).toThrow(
      expect.objectContaining({ code: "BAD_CHECKPOINT_OPTION", field: "vocabSize" }),
    );
    expect(
      write({ family: "llama", hidden: 8, heads: 2, layers: 1, tokenizer: "llama2", vocabSize: 32064 }).vocabSize,
    ).toBe(32064);
  });

  it("refuse an option that cannot make the family's checkpoint, naming it", () => {
    const refused: Array<[Record<string, unknown>, string]> = [
      [{ family: "bloom" }, "family"],
      [{ family: "llama", heads: 4, kvHeads: 3 }, "kvHeads"],
      [{ family: "llama", hidden: 30, heads: 4 }, "heads"],
      [{ family: "qwen3", headDim: 7 }, "headDim"],
      [{ family: "llama", rotaryPct: 0.5 }, "rotaryPct"],
      [{ family: "gpt_neox", hidden: 32, heads: 4, rotaryPct: 0.1 }, "rotaryPct"],
      [{ family: "gptj", hidden: 32, heads: 4, rotaryDim: 10 }, "rotaryDim"],
      [{ family: "gpt_neox", tieWordEmbeddings: true }, "tieWordEmbeddings"],
      [{ family: "mistral", attentionBias: true }, "attentionBias"],
      [
        {
          family: "llama",
          ropeScaling: {
            type: "llama3",
            factor: 8,
            lowFreqFactor: 4,
            highFreqFactor: 1,
            originalMaxPositionEmbeddings: 64,
          },
        },
        "ropeScaling.highFreqFactor",
      ],
      [{ family: "llama", shards: 1000 }, "shards"],
      [{ family: "llama", dtype: "F64" }, "dtype"],
    ];
    for (const [options, field] of refused) {
      let caught: unknown;
      try {
        write(options as unknown as RandomCheckpointOptions);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(options)).toBeInstanceOf(CheckpointOptionError);
      expect((caught as CheckpointOptionError).field, JSON.stringify(options)).toBe(field);
    }
  });
});

describe("random-checkpoint CLI", () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "random-checkpoint.ts"), ...args], {
      encoding: "utf8",
      cwd: ROOT,
    });

  it("writes the checkpoint its flags describe", () => {
    const out = join(work, "cli");
    const r = cli(
      "--family",
      "qwen3",
      "--out",
      out,
      "--dtype",
      "BF16",
      "--shards",
      "2",
      "--heads",
      "4",
      "--kv-heads",
      "2",
      "--head-dim",
      "12",
      "--seed",
      "5",
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/qwen3, 2 layers, d_model 32, 4 heads \(2 kv\), vocab 49, BF16, 2 weight file/);
    const same = write({ family: "qwen3", dtype: "BF16", shards: 2, heads: 4, kvHeads: 2, headDim: 12, seed: 5 });
    for (const f of [...same.files, INDEX_FILE, "config.json"])
      expect(readFileSync(join(out, f)).equals(readFileSync(join(same.dir, f))), f).toBe(true);
  });

  it("names the flag of a refused value and exits 2; --help lists the flags", () => {
    const r = cli("--family", "llama", "--out", join(work, "bad"), "--kv-heads", "3");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--kv-heads: kvHeads \(3\) must divide heads \(4\)/);
    const scaling = cli("--family", "llama", "--out", join(work, "bad2"), "--rope-scaling", "yarn:4");
    expect([scaling.status, scaling.stderr]).toEqual([2, expect.stringMatching(/--rope-scaling: /)]);
    const help = cli("--help");
    expect(help.status).toBe(0);
    for (const flag of [
      "--family",
      "--preset",
      "--dtype",
      "--shards",
      "--tokenizer",
      "--seed",
      "--kv-heads",
      "--rotary-pct",
      "--rotary-dim",
    ])
      expect(help.stdout).toContain(flag);
  });
});
