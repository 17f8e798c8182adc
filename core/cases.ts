/**
 * Cases (docs/method.md §1): one teacher-forced prediction per answer token.
 *
 * "15+32=" with a per-digit tokenizer gives two cases: prefix "15+32=" → target "4", and prefix
 * "15+32=4" → target "7". The tokenizer is the model's own, with its own special-token rules
 * (a start token only if it adds one), so the same code serves per-digit tokenizers (Llama-2,
 * Qwen), up-to-three-digit ones (Llama-3) and multi-digit BPE (GPT-2).
 */
import { TokenizationError } from "./errors.ts";
import { answerText, promptText } from "./tasks.ts";
import type { OperandPair, TemplateId } from "./tasks.ts";

/** What cases need from a tokenizer; worker/model's tokenizer satisfies it. */
export interface TextEncoderLike {
  /** The ids the model reads for `text`, with the start token the tokenizer adds, if any. */
  encode(text: string): number[];
  /** The ids of `text` alone, without special tokens. */
  encodePlain(text: string): number[];
  /** The text one token spells, spaces included ("Ġ8" and "▁8" spell " 8"). */
  tokenText(id: number): string | undefined;
  /** The vocabulary token spelling exactly `text` on its own (a plain one before byte fallback). */
  textToId(text: string): number | undefined;
}

export interface Case {
  /** 0-based position in the cell's case list; shard ranges and per-case results refer to it. */
  id: number;
  pair: OperandPair;
  template: TemplateId;
  prompt: string;
  answer: string;
  /** Which answer token this case predicts (0 = the first). */
  answerIndex: number;
  /** Prompt ids followed by the answer ids before `answerIndex`. */
  prefixIds: number[];
  /** The true answer token at `answerIndex`. */
  target: number;
  /**
   * The pair's answer tokens come from tokenizing the answer alone, because a token straddles
   * the prompt/answer boundary (the cell counts such pairs as `boundaryFallbacks`).
   */
  boundaryFallback: boolean;
}

/**
 * Tokenizes each pair and splits its answer into cases, by the boundary rule of docs/method.md §1:
 *
 * - prompt ids = encode(prompt without its trailing space); joint ids = encode(prompt + answer),
 *   the template's space included. When the prompt ids are a prefix of the joint ids, the
 *   answer's tokens are the rest: what the model reads when it reads the answer.
 * - Otherwise a token straddles the boundary ("3-5=-2": "=-"), and the answer's tokens are
 *   encodePlain(answer) spelled exactly: a space the tokenizer put in front of the answer
 *   (SentencePiece's "▁-") is removed by taking the vocabulary token without it ("-"), or by
 *   dropping the token when it is that space alone; with no such token it stays.
 * - A leading answer token that is whitespace only ("▁", "Ġ", the zoo's " ") joins the prefix:
 *   the model is not asked to predict the space, only what follows it.
 */
export function buildCases(pairs: readonly OperandPair[], template: TemplateId, tokenizer: TextEncoderLike): Case[] {
  const cases: Case[] = [];
  for (const pair of pairs) {
    const prompt = promptText(pair, template);
    const answer = answerText(pair);
    const { promptIds, answerIds, boundaryFallback } = splitAnswer(prompt, answer, tokenizer);
    if (answerIds.length === 0) {
      throw new TokenizationError(
        prompt,
        `the answer ${JSON.stringify(answer)} of prompt ${JSON.stringify(prompt)} tokenizes to no tokens`,
      );
    }
    answerIds.forEach((target, answerIndex) => {
      cases.push({
        id: cases.length,
        pair,
        template,
        prompt,
        answer,
        answerIndex,
        prefixIds: [...promptIds, ...answerIds.slice(0, answerIndex)],
        target,
        boundaryFallback,
      });
    });
  }
  return cases;
}

/**
 * How many pairs of these cases took the boundary fallback, each pair counted once (at its
 * first case). Cases without the fields (a free prompt's) count as none.
 */
export function countBoundaryFallbacks(
  cases: ReadonlyArray<Partial<Pick<Case, "answerIndex" | "boundaryFallback">>>,
): number {
  return cases.reduce((n, c) => n + (c.boundaryFallback === true && c.answerIndex === 0 ? 1 : 0), 0);
}

interface SplitAnswer {
  /** What the model reads before the first answer token (a joined space included). */
  promptIds: number[];
  answerIds: number[];
  boundaryFallback: boolean;
}

function splitAnswer(prompt: string, answer: string, tokenizer: TextEncoderLike): SplitAnswer {
  const bare = prompt.endsWith(" ") ? prompt.slice(0, -1) : prompt;
  const promptIds = tokenizer.encode(bare);
  const jointIds = tokenizer.encode(prompt + answer);
  if (isPrefix(promptIds, jointIds)) {
    const answerIds = jointIds.slice(promptIds.length);
    const first = answerIds[0];
    if (first !== undefined && isWhitespaceOnly(tokenizer.tokenText(first))) {
      return { promptIds: [...promptIds, first], answerIds: answerIds.slice(1), boundaryFallback: false };
    }
    return { promptIds, answerIds, boundaryFallback: false };
  }
  return {
    promptIds,
    answerIds: spelledExactly(answer, tokenizer.encodePlain(answer), tokenizer),
    boundaryFallback: true,
  };
}

/** The answer's own ids without a space the tokenizer put in front of it. */
function spelledExactly(answer: string, ids: number[], tokenizer: TextEncoderLike): number[] {
  const first = ids[0];
  if (first === undefined) return ids;
  const text = tokenizer.tokenText(first);
  if (text === undefined || !text.startsWith(" ") || answer.startsWith(" ")) return ids;
  const unspaced = text.slice(1);
  if (unspaced === "") return ids.slice(1);
  const replacement = tokenizer.textToId(unspaced);
  return replacement === undefined ? ids : [replacement, ...ids.slice(1)];
}

const isWhitespaceOnly = (text: string | undefined): boolean =>
  text !== undefined && text.length > 0 && text.trim() === "";

function isPrefix(prefix: readonly number[], full: readonly number[]): boolean {
  if (prefix.length > full.length) return false;
  return prefix.every((id, i) => id === full[i]);
}
