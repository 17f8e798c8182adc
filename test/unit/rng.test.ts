// Golden values below were computed once by an independent Python transcription of the
// algorithm documented in core/rng.ts (arbitrary-precision ints reduced mod 2^32), so they
// pin the cross-language contract, not just this implementation. Doubles compare exactly.
import { describe, expect, it } from "vitest";
import { deriveSeed, fnv1a32, mulberry32, sampleWithoutReplacement } from "../../core/rng.ts";

describe("mulberry32", () => {
  it("matches the golden stream for seeds 0, 42 and 2^32-1", () => {
    const draw = (seed: number, n: number) => {
      const rng = mulberry32(seed);
      return Array.from({ length: n }, () => rng.next());
    };
    expect(draw(0, 3)).toEqual([0.26642920868471265, 0.0003297457005828619, 0.2232720274478197]);
    expect(draw(42, 3)).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099]);
    expect(draw(4294967295, 2)).toEqual([0.8964226141106337, 0.189478256739676]);
  });

  it("randomInt(n) is floor(next() * n)", () => {
    const rng = mulberry32(1);
    expect(Array.from({ length: 10 }, () => rng.randomInt(10))).toEqual([6, 0, 5, 9, 9, 2, 6, 7, 4, 9]);
  });

  it("keeps its state modulo 2^32 over a long run", () => {
    const rng = mulberry32(7);
    for (let i = 0; i < 100_000; i++) {
      const x = rng.next();
      if (!(x >= 0 && x < 1)) throw new Error(`draw ${i} out of range: ${x}`);
    }
  });

  it("rejects non-integer seeds and bad bounds with a SpecError", () => {
    expect(() => mulberry32(1.5)).toThrow(expect.objectContaining({ code: "BAD_SPEC", field: "seed" }));
    expect(() => mulberry32(0).randomInt(0)).toThrow(expect.objectContaining({ code: "BAD_SPEC", field: "n" }));
  });
});

describe("fnv1a32 and deriveSeed", () => {
  it("matches the published FNV-1a test vectors", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
  });

  it("hashes the parts joined by | as UTF-8", () => {
    expect(deriveSeed(0, "+", 2)).toBe(2835518356);
    expect(deriveSeed(7, "-", 3)).toBe(3460157684);
    expect(deriveSeed(0, "×", 1)).toBe(3507757644); // multi-byte UTF-8
    expect(deriveSeed(0, "+", 2)).toBe(fnv1a32("0|+|2"));
  });

  it("refuses non-integer numbers, which other languages would format differently", () => {
    expect(() => deriveSeed(0, 0.1)).toThrow(expect.objectContaining({ code: "BAD_SPEC" }));
  });
});

describe("sampleWithoutReplacement", () => {
  it("matches the golden partial Fisher–Yates samples", () => {
    expect(sampleWithoutReplacement(10, 5, mulberry32(123))).toEqual([2, 4, 5, 6, 7]);
    expect(sampleWithoutReplacement(8100, 6, mulberry32(deriveSeed(0, "+", 2)))).toEqual([
      735, 2214, 4044, 5127, 7245, 8024,
    ]);
  });

  it("returns k distinct sorted indices, deterministically", () => {
    const a = sampleWithoutReplacement(810_000, 500, mulberry32(99));
    expect(a).toEqual(sampleWithoutReplacement(810_000, 500, mulberry32(99)));
    expect(new Set(a).size).toBe(500);
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(a.every((i) => Number.isInteger(i) && i >= 0 && i < 810_000)).toBe(true);
  });

  it("k = n is a permutation of everything; k = 0 is empty", () => {
    expect(sampleWithoutReplacement(7, 7, mulberry32(5))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(sampleWithoutReplacement(7, 0, mulberry32(5))).toEqual([]);
  });

  it("rejects k > n", () => {
    expect(() => sampleWithoutReplacement(3, 4, mulberry32(0))).toThrow(
      expect.objectContaining({ code: "BAD_SPEC", field: "k" }),
    );
  });
});
