import { describe, expect, it } from "vitest";
import { buildCases, countBoundaryFallbacks } from "../../core/cases.ts";
import type { TextEncoderLike } from "../../core/cases.ts";
import { operandPairs } from "../../core/tasks.ts";
import type { OperandPair, TemplateId } from "../../core/tasks.ts";

// The zoo's character vocabulary (models/arith.py VOCAB_CHARS); id 0 is the end token.
const VOCAB_CHARS = " 0123456789+-*/=?:AQTWabcdefghijklmnopqrstuvwxyz";
const charTokenizer: TextEncoderLike = {
  encode: (text) =>
    [...text].map((ch) => {
      const i = VOCAB_CHARS.indexOf(ch);
      if (i < 0) throw new Error(`character ${ch} not in vocabulary`);
      return i + 1;
    }),
  encodePlain: (text) => charTokenizer.encode(text),
  tokenText: (id) => VOCAB_CHARS[id - 1],
  textToId: (text) => (text.length === 1 && VOCAB_CHARS.includes(text) ? VOCAB_CHARS.indexOf(text) + 1 : undefined),
};
const id = (ch: string) => VOCAB_CHARS.indexOf(ch) + 1;
const ids = (text: string) => charTokenizer.encode(text);

/**
 * A tokenizer over a list of token strings (id = index) that splits text with `split`; `start`
 * is put in front by encode() only, as a start token is.
 */
function vocabTokenizer(vocab: readonly string[], split: (text: string) => string[], start?: string): TextEncoderLike {
  const idOf = (t: string) => {
    const i = vocab.indexOf(t);
    if (i < 0) throw new Error(`token ${JSON.stringify(t)} not in vocabulary`);
    return i;
  };
  const plain = (text: string) => split(text).map(idOf);
  return {
    encode: (text) => (start === undefined ? plain(text) : [idOf(start), ...plain(text)]),
    encodePlain: plain,
    tokenText: (i) => vocab[i],
    textToId: (text) => (vocab.includes(text) && text !== start ? vocab.indexOf(text) : undefined),
  };
}

describe("buildCases", () => {
  it('gives "15+32=" two teacher-forced cases (docs/method.md §1)', () => {
    const cases = buildCases([{ op: "+", a: 15, b: 32 }], 4, charTokenizer);
    expect(cases).toEqual([
      {
        id: 0,
        pair: { op: "+", a: 15, b: 32 },
        template: 4,
        prompt: "15+32=",
        answer: "47",
        answerIndex: 0,
        prefixIds: ids("15+32="),
        target: id("4"),
        boundaryFallback: false,
      },
      {
        id: 1,
        pair: { op: "+", a: 15, b: 32 },
        template: 4,
        prompt: "15+32=",
        answer: "47",
        answerIndex: 1,
        prefixIds: ids("15+32=4"),
        target: id("7"),
        boundaryFallback: false,
      },
    ]);
  });

  it("counts one case per answer token over the 1D cells", () => {
    // +: 45 of 100 sums are >= 10. -: 45 negative results are "-d", two tokens. *: 58 products
    // >= 10. /: 90 single-digit quotients.
    expect(buildCases(operandPairs("+", 1), 4, charTokenizer)).toHaveLength(145);
    expect(buildCases(operandPairs("-", 1), 4, charTokenizer)).toHaveLength(145);
    expect(buildCases(operandPairs("*", 1), 4, charTokenizer)).toHaveLength(158);
    expect(buildCases(operandPairs("/", 1), 4, charTokenizer)).toHaveLength(90);
  });

  it("numbers cases 0.. in pair order then answer order", () => {
    const cases = buildCases(operandPairs("-", 1), 4, charTokenizer);
    expect(cases.map((c) => c.id)).toEqual(cases.map((_, i) => i));
    const negative = cases.filter((c) => c.pair.a === 2 && c.pair.b === 7);
    expect(negative.map((c) => [c.answer, c.answerIndex, c.target])).toEqual([
      ["-5", 0, id("-")],
      ["-5", 1, id("5")],
    ]);
    expect(negative[1]!.prefixIds).toEqual(ids("2-7=-"));
  });

  it("keeps the trailing space of templates 1-3 in the prompt, never in the answer", () => {
    const pair: OperandPair = { op: "*", a: 3, b: 4 };
    const byTemplate = ([1, 2, 3, 4] as TemplateId[]).map((t) => buildCases([pair], t, charTokenizer));
    expect(byTemplate.map((cs) => cs[0]!.prompt)).toEqual([
      "The product of 3 and 4 is ",
      "Q: What is 3 times 4? A: ",
      "3 times 4 is ",
      "3*4=",
    ]);
    for (const cs of byTemplate) {
      expect(cs).toHaveLength(2);
      expect(cs.map((c) => c.target)).toEqual([id("1"), id("2")]);
      expect(cs[0]!.prefixIds).toEqual(ids(cs[0]!.prompt));
    }
    expect(byTemplate[2]![0]!.prefixIds.at(-1)).toBe(id(" "));
  });

  it("uses the tokenizer's start token when it adds one", () => {
    const withStart: TextEncoderLike = { ...charTokenizer, encode: (text) => [0, ...charTokenizer.encode(text)] };
    const cases = buildCases([{ op: "/", a: 12, b: 3 }], 4, withStart);
    expect(cases).toHaveLength(1);
    expect(cases[0]!.prefixIds).toEqual([0, ...ids("12/3=")]);
    expect(cases[0]!.target).toBe(id("4"));
  });

  it("splits multi-digit tokens like BPE does", () => {
    // Digits grouped in twos: "47" is one token, so "15+32=" → "47" is a single case.
    const pairsOfDigits: TextEncoderLike = {
      ...charTokenizer,
      encode: (text) => (text.match(/\d{1,2}|\D/g) ?? []).map((t) => (/\d/.test(t) ? 100 + Number(t) : id(t))),
      tokenText: (i) => (i >= 100 ? String(i - 100) : charTokenizer.tokenText(i)),
    };
    const cases = buildCases(
      [
        { op: "+", a: 15, b: 32 },
        { op: "+", a: 50, b: 50 },
      ],
      4,
      pairsOfDigits,
    );
    expect(cases.map((c) => [c.id, c.answer, c.answerIndex, c.target])).toEqual([
      [0, "47", 0, 147],
      [1, "100", 0, 110],
      [2, "100", 1, 100],
    ]);
  });

  it('keeps GPT-2\'s " 8" as one case: the prompt without its space is a prefix of prompt + answer', () => {
    // GPT-2 style: a space glues to the following word, so "is " + "8" becomes "is", " 8".
    const vocab = [..."0123456789 +=Tabehilmnpsu", " 8", " is", " plus", " 3", " 5"];
    const gluesSpace = vocabTokenizer(vocab, (text) => text.match(/ ?[^ ]+| /g) ?? []);
    const cases = buildCases([{ op: "+", a: 3, b: 5 }], 3, gluesSpace);
    expect(cases).toHaveLength(1);
    expect(cases[0]).toMatchObject({
      prompt: "3 plus 5 is ",
      answerIndex: 0,
      target: vocab.indexOf(" 8"),
      boundaryFallback: false,
    });
    expect(cases[0]!.prefixIds.map((i) => vocab[i])).toEqual(["3", " plus", " 5", " is"]);
  });

  it("puts a whitespace-only first answer token in the prefix, not in a case", () => {
    // Llama-3 and Qwen style: "is 8" is "Ġis", "Ġ", "8".
    const vocab = ["<s>", ..."0123456789 +=Tabehilmnpsu", " is", " plus"];
    const split = (text: string) => text.match(/ ?[a-z]+|\d| /g) ?? [];
    const cases = buildCases([{ op: "+", a: 3, b: 5 }], 3, vocabTokenizer(vocab, split, "<s>"));
    expect(cases.map((c) => vocab[c.target])).toEqual(["8"]);
    expect(cases[0]!.prefixIds.map((i) => vocab[i])).toEqual(["<s>", "3", " plus", " ", "5", " is", " "]);
  });

  describe("when a token straddles the prompt/answer boundary", () => {
    // SentencePiece style: a dummy "▁" in front of the text, "=-" one token.
    const split = (withSpaceMinus: boolean) => (text: string) => {
      const pieces = text.match(/=-|\d|[^\d]/g) ?? [];
      if (withSpaceMinus && pieces[0] === "-") return [" -", ...pieces.slice(1)];
      return [" ", ...pieces];
    };
    const pair: OperandPair = { op: "-", a: 3, b: 5 };

    it("takes the answer alone and drops the dummy space when it is a token of its own", () => {
      const vocab = ["<s>", " ", ..."0123456789-=", "=-"];
      const tok = vocabTokenizer(vocab, split(false), "<s>");
      const cases = buildCases([pair], 4, tok);
      expect(cases.map((c) => vocab[c.target])).toEqual(["-", "2"]);
      expect(cases.map((c) => c.boundaryFallback)).toEqual([true, true]);
      expect(cases[0]!.prefixIds).toEqual(tok.encode("3-5="));
      expect(cases[1]!.prefixIds).toEqual([...tok.encode("3-5="), vocab.indexOf("-")]);
      expect(countBoundaryFallbacks(cases)).toBe(1);
    });

    it('replaces "▁-" with the vocabulary\'s "-"', () => {
      const vocab = ["<s>", " ", ..."0123456789-=", "=-", " -"];
      const cases = buildCases([pair], 4, vocabTokenizer(vocab, split(true), "<s>"));
      expect(cases.map((c) => vocab[c.target])).toEqual(["-", "2"]);
    });

    it('keeps "▁-" when the vocabulary has no token spelling "-" on its own', () => {
      const vocab = ["<s>", " ", ..."0123456789-=", "=-", " -"];
      const tok = { ...vocabTokenizer(vocab, split(true), "<s>"), textToId: () => undefined };
      const cases = buildCases([pair], 4, tok);
      expect(cases.map((c) => vocab[c.target])).toEqual([" -", "2"]);
      expect(cases[0]!.boundaryFallback).toBe(true);
    });
  });

  it("throws when the answer adds no tokens", () => {
    const dropsDigits: TextEncoderLike = {
      ...charTokenizer,
      encode: (text) => charTokenizer.encode(text.replace(/(?<==)\d+$/, "")),
    };
    expect(() => buildCases([{ op: "+", a: 1, b: 2 }], 4, dropsDigits)).toThrow(
      expect.objectContaining({ code: "TOKENIZATION_FAILED" }),
    );
  });
});
