/**
 * Cases (METHOD.md §1): one teacher-forced prediction per answer token.
 *
 * "15+32=" with a per-digit tokenizer gives two cases: prefix "15+32=" → target "4", and prefix
 * "15+32=4" → target "7". The tokenizer is the model's own, with its own special-token rules
 * (a start token only if its post-processor adds one), so the same code serves per-digit
 * tokenizers (Llama) and multi-digit BPE (GPT-2).
 */
import { TokenizationError } from "./errors.ts";
import { answerText, promptText } from "./tasks.ts";
import type { OperandPair, TemplateId } from "./tasks.ts";

/** The one thing cases need from a tokenizer; worker/model's tokenizer satisfies it. */
export interface TextEncoderLike {
  encode(text: string): number[];
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
}

/**
 * Tokenizes prompt and prompt+answer once per pair and splits the answer into cases.
 *
 * The answer ids are taken from the joint tokenization (what the model sees when it reads the
 * answer), so the prompt's own ids must be a prefix of it. A tokenizer that merges across the
 * boundary (e.g. GPT-2 BPE turning "is" + " " + "8" into "is", " 8") would make the prefix of
 * the first case something the model never sees before answering; that is a
 * {@link TokenizationError}, not something to paper over.
 */
export function buildCases(pairs: readonly OperandPair[], template: TemplateId, tokenizer: TextEncoderLike): Case[] {
  const cases: Case[] = [];
  for (const pair of pairs) {
    const prompt = promptText(pair, template);
    const answer = answerText(pair);
    const promptIds = tokenizer.encode(prompt);
    const fullIds = tokenizer.encode(prompt + answer);
    if (!isPrefix(promptIds, fullIds)) {
      throw new TokenizationError(
        prompt,
        `the tokenizer merges the prompt ${JSON.stringify(prompt)} with its answer ${JSON.stringify(answer)}: ` +
          `prompt ids [${promptIds.join(", ")}] are not a prefix of prompt+answer ids [${fullIds.join(", ")}]`,
      );
    }
    const answerIds = fullIds.slice(promptIds.length);
    if (answerIds.length === 0) {
      throw new TokenizationError(prompt, `the answer ${JSON.stringify(answer)} of prompt ${JSON.stringify(prompt)} tokenizes to no tokens`);
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
      });
    });
  }
  return cases;
}

function isPrefix(prefix: readonly number[], full: readonly number[]): boolean {
  if (prefix.length > full.length) return false;
  return prefix.every((id, i) => id === full[i]);
}
