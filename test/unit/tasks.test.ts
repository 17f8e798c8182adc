import { describe, expect, it } from "vitest";
import {
  answerText,
  operandPairs,
  pairAt,
  pairCount,
  parseDigits,
  parseOperator,
  parseTemplate,
  promptText,
  resultOf,
  selectPairs,
} from "../../core/tasks.ts";
import type { OperandPair, Operator } from "../../core/tasks.ts";

const p = (op: Operator, a: number, b: number): OperandPair => ({ op, a, b });

describe("operandPairs", () => {
  it("lists every 1D pair of + - * in first-operand-major order", () => {
    for (const op of ["+", "-", "*"] as const) {
      const pairs = operandPairs(op, 1);
      expect(pairs).toHaveLength(100);
      expect(pairs.slice(0, 3)).toEqual([p(op, 0, 0), p(op, 0, 1), p(op, 0, 2)]);
      expect(pairs[10]).toEqual(p(op, 1, 0));
      expect(pairs[99]).toEqual(p(op, 9, 9));
    }
  });

  it("lays out / as dividend q·d over divisor d, divisor-major, d >= 1", () => {
    const pairs = operandPairs("/", 1);
    expect(pairs).toHaveLength(90);
    expect(pairs.slice(0, 3)).toEqual([p("/", 0, 1), p("/", 1, 1), p("/", 2, 1)]);
    expect(pairs.slice(10, 13)).toEqual([p("/", 0, 2), p("/", 2, 2), p("/", 4, 2)]);
    expect(pairs[89]).toEqual(p("/", 81, 9));
    expect(pairs.every((x) => x.b >= 1 && x.a % x.b === 0 && resultOf(x) <= 9)).toBe(true);
  });

  it("applies the 2D and 3D ranges to the quotient and divisor of /", () => {
    expect(pairCount("/", 2)).toBe(8100);
    expect(pairAt("/", 2, 0)).toEqual(p("/", 100, 10));
    expect(pairAt("/", 2, 1)).toEqual(p("/", 110, 10));
    expect(pairAt("/", 2, 8099)).toEqual(p("/", 9801, 99));
    expect(pairCount("+", 3)).toBe(810_000);
    expect(pairAt("-", 3, 809_999)).toEqual(p("-", 999, 999));
    expect(pairAt("-", 2, 90)).toEqual(p("-", 11, 10));
  });

  it("pairAt agrees with the listed order and rejects out-of-range indices", () => {
    const listed = operandPairs("*", 2);
    expect([0, 1, 89, 90, 4321, 8099].map((i) => pairAt("*", 2, i))).toEqual(
      [0, 1, 89, 90, 4321, 8099].map((i) => listed[i]),
    );
    expect(() => pairAt("+", 1, 100)).toThrow(expect.objectContaining({ code: "BAD_SPEC", field: "index" }));
  });
});

describe("prompts and answers", () => {
  const expected: Record<Operator, string[]> = {
    "+": ["The sum of 3 and 5 is ", "Q: What is 3 plus 5? A: ", "3 plus 5 is ", "3+5="],
    "-": ["The difference between 3 and 5 is ", "Q: What is 3 minus 5? A: ", "3 minus 5 is ", "3-5="],
    "*": ["The product of 3 and 5 is ", "Q: What is 3 times 5? A: ", "3 times 5 is ", "3*5="],
    "/": ["The ratio of 3 and 5 is ", "Q: What is 3 divides 5? A: ", "3 divides 5 is ", "3/5="],
  };
  for (const op of ["+", "-", "*", "/"] as const) {
    it(`renders the four ${op} templates, a trailing space on 1-3 only`, () => {
      expect(([1, 2, 3, 4] as const).map((t) => promptText(p(op, 3, 5), t))).toEqual(expected[op]);
    });
  }

  it("writes the / prompt as dividend/divisor and the answer as the quotient", () => {
    const pair = operandPairs("/", 1).find((x) => x.a === 12 && x.b === 3)!;
    expect(promptText(pair, 4)).toBe("12/3=");
    expect(promptText(pair, 2)).toBe("Q: What is 12 divides 3? A: ");
    expect(answerText(pair)).toBe("4");
  });

  it("computes results and writes negative answers with a leading minus", () => {
    expect(answerText(p("+", 15, 32))).toBe("47");
    expect(answerText(p("-", 3, 7))).toBe("-4");
    expect(answerText(p("-", 7, 7))).toBe("0");
    expect(answerText(p("*", 12, 11))).toBe("132");
    expect(resultOf(p("/", 81, 9))).toBe(9);
  });
});

describe("selectPairs", () => {
  it("uses every 1D pair whatever the sample", () => {
    expect(selectPairs("+", 1, { sample: 5, seed: 1 })).toEqual(operandPairs("+", 1));
    expect(selectPairs("/", 1, { seed: 1 })).toHaveLength(90);
  });

  it("samples 100 distinct 2D pairs by default, in canonical order, deterministically", () => {
    const a = selectPairs("+", 2, { seed: 0 });
    expect(a).toHaveLength(100);
    expect(selectPairs("+", 2, { seed: 0 })).toEqual(a);
    expect(new Set(a.map((x) => `${x.a}|${x.b}`)).size).toBe(100);
    const keys = a.map((x) => (x.a - 10) * 90 + (x.b - 10));
    expect(keys).toEqual([...keys].sort((x, y) => x - y));
    expect(a.every((x) => x.a >= 10 && x.a <= 99 && x.b >= 10 && x.b <= 99)).toBe(true);
  });

  it("derives the cell's stream from (seed, op, digits)", () => {
    // Golden: sampleWithoutReplacement(8100, 6, mulberry32(deriveSeed(0, "+", 2))) = [735, 2214, ...].
    expect(selectPairs("+", 2, { sample: 6, seed: 0 }).slice(0, 2)).toEqual([
      pairAt("+", 2, 735),
      pairAt("+", 2, 2214),
    ]);
    expect(selectPairs("+", 2, { sample: 20, seed: 1 })).not.toEqual(selectPairs("+", 2, { sample: 20, seed: 0 }));
    expect(selectPairs("-", 2, { sample: 20, seed: 0 }).map((x) => [x.a, x.b])).not.toEqual(
      selectPairs("+", 2, { sample: 20, seed: 0 }).map((x) => [x.a, x.b]),
    );
  });

  it('samples 3D cells without listing them, and returns everything for "all"', () => {
    const three = selectPairs("/", 3, { sample: 50, seed: 3 });
    expect(three).toHaveLength(50);
    expect(three.every((x) => x.b >= 100 && x.b <= 999 && resultOf(x) >= 100 && resultOf(x) <= 999)).toBe(true);
    expect(selectPairs("*", 2, { sample: "all", seed: 0 })).toHaveLength(8100);
  });

  it("rejects a bad sample size naming the field", () => {
    for (const sample of [0, -1, 2.5, 8101]) {
      expect(() => selectPairs("+", 2, { sample, seed: 0 })).toThrow(
        expect.objectContaining({ code: "BAD_SPEC", field: "sample" }),
      );
    }
  });
});

describe("parse helpers", () => {
  it("accept the documented spellings", () => {
    expect(["+", "-", "*", "/"].map((x) => parseOperator(x))).toEqual(["+", "-", "*", "/"]);
    expect([1, "2", "3D", "1d"].map((x) => parseDigits(x))).toEqual([1, 2, 3, 1]);
    expect([1, "4"].map((x) => parseTemplate(x))).toEqual([1, 4]);
  });

  it("throw a SpecError naming the field and the allowed values", () => {
    const cases: [() => unknown, string, string][] = [
      [() => parseOperator("x"), "op", '"+", "-", "*" or "/"'],
      [() => parseOperator(undefined), "op", "got nothing"],
      [() => parseDigits(4), "digits", "1, 2 or 3"],
      [() => parseDigits(" 1"), "digits", "1, 2 or 3"],
      [() => parseTemplate(0), "template", "1, 2, 3 or 4"],
      [() => parseTemplate("5", "cells[2].template"), "cells[2].template", "1, 2, 3 or 4"],
    ];
    for (const [fn, field, text] of cases) {
      let caught: unknown;
      try {
        fn();
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ name: "SpecError", code: "BAD_SPEC", retryable: false, field });
      expect((caught as Error).message).toContain(field);
      expect((caught as Error).message).toContain(text);
    }
  });
});
