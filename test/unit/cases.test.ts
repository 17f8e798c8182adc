import { describe, expect, it } from "vitest";
import { buildCases } from "../../core/cases.ts";
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
};
const id = (ch: string) => VOCAB_CHARS.indexOf(ch) + 1;
const ids = (text: string) => charTokenizer.encode(text);

describe("buildCases", () => {
  it('gives "15+32=" two teacher-forced cases (METHOD.md §1)', () => {
    const cases = buildCases([{ op: "+", a: 15, b: 32 }], 4, charTokenizer);
    expect(cases).toEqual([
      { id: 0, pair: { op: "+", a: 15, b: 32 }, template: 4, prompt: "15+32=", answer: "47", answerIndex: 0, prefixIds: ids("15+32="), target: id("4") },
      { id: 1, pair: { op: "+", a: 15, b: 32 }, template: 4, prompt: "15+32=", answer: "47", answerIndex: 1, prefixIds: ids("15+32=4"), target: id("7") },
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
    expect(byTemplate.map((cs) => cs[0]!.prompt)).toEqual(["The product of 3 and 4 is ", "Q: What is 3 times 4? A: ", "3 times 4 is ", "3*4="]);
    for (const cs of byTemplate) {
      expect(cs).toHaveLength(2);
      expect(cs.map((c) => c.target)).toEqual([id("1"), id("2")]);
      expect(cs[0]!.prefixIds).toEqual(ids(cs[0]!.prompt));
    }
    expect(byTemplate[2]![0]!.prefixIds.at(-1)).toBe(id(" "));
  });

  it("uses the tokenizer's start token when it adds one", () => {
    const withStart: TextEncoderLike = { encode: (text) => [0, ...charTokenizer.encode(text)] };
    const cases = buildCases([{ op: "/", a: 12, b: 3 }], 4, withStart);
    expect(cases).toHaveLength(1);
    expect(cases[0]!.prefixIds).toEqual([0, ...ids("12/3=")]);
    expect(cases[0]!.target).toBe(id("4"));
  });

  it("splits multi-digit tokens like BPE does", () => {
    // Digits grouped in twos: "47" is one token, so "15+32=" → "47" is a single case.
    const pairsOfDigits: TextEncoderLike = {
      encode: (text) => (text.match(/\d{1,2}|\D/g) ?? []).map((t) => (/\d/.test(t) ? 100 + Number(t) : id(t))),
    };
    const cases = buildCases([{ op: "+", a: 15, b: 32 }, { op: "+", a: 50, b: 50 }], 4, pairsOfDigits);
    expect(cases.map((c) => [c.id, c.answer, c.answerIndex, c.target])).toEqual([
      [0, "47", 0, 147],
      [1, "100", 0, 110],
      [2, "100", 1, 100],
    ]);
  });

  it("throws a TokenizationError naming the prompt when the tokenizer merges across the boundary", () => {
    // GPT-2 style: a space glues to the following word, so "is " + "8" becomes "is", " 8".
    const gluesSpace: TextEncoderLike = {
      encode: (text) => (text.match(/ ?[^ ]+| /g) ?? []).map((t) => (t.length === 1 ? id(t) : 1000 + t.length)),
    };
    let caught: unknown;
    try {
      buildCases([{ op: "+", a: 3, b: 5 }], 3, gluesSpace);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ name: "TokenizationError", code: "TOKENIZATION_FAILED", retryable: false, text: "3 plus 5 is " });
    expect((caught as Error).message).toContain('"3 plus 5 is "');
  });

  it("throws when the answer adds no tokens", () => {
    const dropsDigits: TextEncoderLike = { encode: (text) => charTokenizer.encode(text.replace(/(?<==)\d+$/, "")) };
    expect(() => buildCases([{ op: "+", a: 1, b: 2 }], 4, dropsDigits)).toThrow(expect.objectContaining({ code: "TOKENIZATION_FAILED" }));
  });
});
