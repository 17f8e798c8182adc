/**
 * The checkpoint's own tokenizer (tokenizer.json + tokenizer_config.json), via
 * @huggingface/tokenizers.
 *
 * `encode` applies the tokenizer's own special-token rules: a start token appears only if the
 * tokenizer.json post-processor adds one (Llama's does, GPT-2's and the zoo's do not), exactly
 * as the model saw text in training. Unknown characters are an error, not a silent unk id.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { TokenizationError } from "../../core/index.ts";
import { BadTokenizerError, ModelNotFoundError } from "./errors.ts";

export interface ModelTokenizer {
  encode(text: string): number[];
  /** "" for no ids; special tokens are kept so a decoded prefix shows what the model saw. */
  decode(ids: readonly number[]): string;
  tokenToId(token: string): number | undefined;
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
  // Optional: many GPT-2 exports ship without it, and it only names special tokens here.
  const config = readJson(configPath, false) ?? {};

  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(spec, config);
  } catch (err) {
    throw new BadTokenizerError(tokenizerPath, `not a tokenizer @huggingface/tokenizers can run: ${(err as Error).message}`, err);
  }

  const vocab = tokenizer.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) maxId = Math.max(maxId, id);
  const eosName = tokenName(config["eos_token"]);
  const eosId = eosName === undefined ? undefined : tokenizer.token_to_id(eosName);

  // The library throws on an empty list, and would tidy spaces around punctuation by default.
  const decodeExactly = (ids: readonly number[]): string =>
    ids.length === 0 ? "" : tokenizer.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  // A vocabulary with neither an unk token nor byte fallback silently drops characters it lacks
  // (the zoo's does). Without a normalizer, decoding must give the text back, so check that.
  const lossless = spec["normalizer"] === null || spec["normalizer"] === undefined;

  return {
    encode(text) {
      const { ids, tokens } = tokenizer.encode(text);
      const unknown = ids.findIndex((id: number | undefined) => !Number.isInteger(id));
      if (unknown >= 0) {
        throw new TokenizationError(text, `${tokenizerPath}: token ${JSON.stringify(tokens[unknown])} of ${JSON.stringify(text)} has no id`);
      }
      if (lossless && decodeExactly(tokenizer.encode(text, { add_special_tokens: false }).ids) !== text) {
        throw new TokenizationError(
          text,
          `${tokenizerPath}: ${JSON.stringify(text)} decodes back as ${JSON.stringify(decodeExactly(ids))}; characters outside the vocabulary were dropped`,
        );
      }
      return ids;
    },
    decode: (ids) => decodeExactly(ids),
    tokenToId: (token) => tokenizer.token_to_id(token),
    vocabSize: maxId + 1,
    eosId,
  };
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
