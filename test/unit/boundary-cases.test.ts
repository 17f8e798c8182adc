/**
 * docs/method.md §1's boundary rule on real tokenizers: where the prompt ends and the answer's cases
 * begin for Llama-2-style SentencePiece, Llama-3, Qwen and GPT-2-layout byte-level BPE, over
 * the four templates, and how many pairs take the fallback.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATORS, TEMPLATE_IDS, buildCases, countBoundaryFallbacks, operandPairs } from "../../core/index.ts";
import type { Case, OperandPair, TemplateId } from "../../core/index.ts";
import { loadTokenizer } from "../../worker/index.ts";
import type { ModelTokenizer } from "../../worker/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";
import { realTokenizerDir, writeGpt2StyleTokenizer } from "../helpers/tokenizers.ts";

const NAMES = ["gpt2", "llama2", "llama3", "qwen3"] as const;
type Name = (typeof NAMES)[number];
const scratch = mkdtempSync(join(tmpdir(), "cna-boundary-"));
const tokenizers = {} as Record<Name | "zoo", ModelTokenizer>;

beforeAll(() => {
  tokenizers.gpt2 = loadTokenizer(writeGpt2StyleTokenizer(join(scratch, "gpt2")));
  for (const name of ["llama2", "llama3", "qwen3"] as const) tokenizers[name] = loadTokenizer(realTokenizerDir(name));
  writeGpt2Checkpoint(join(scratch, "zoo"));
  tokenizers.zoo = loadTokenizer(join(scratch, "zoo"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const texts = (tok: ModelTokenizer, ids: readonly number[]) => ids.map((id) => tok.tokenText(id));
const casesOf = (name: Name, pair: OperandPair, template: TemplateId) => buildCases([pair], template, tokenizers[name]);
/** Each case's target text, and the text of its prefix's last two tokens. */
const view = (name: Name, cases: Case[]) => ({
  targets: cases.map((c) => tokenizers[name].tokenText(c.target)),
  prefixEnd: texts(tokenizers[name], cases[0]!.prefixIds.slice(-2)),
});

const SUM: OperandPair = { op: "+", a: 3, b: 5 };
const DIFFERENCE: OperandPair = { op: "-", a: 3, b: 5 };

describe("buildCases on real tokenizers (docs/method.md §1)", () => {
  it('"… is 8": GPT-2 has one case " 8"; Llama-2 reads "…▁is▁" and Llama-3 and Qwen "…Ġis Ġ", then the case "8"', () => {
    for (const template of [1, 3] as const) {
      expect(view("gpt2", casesOf("gpt2", SUM, template))).toEqual({
        targets: [" 8"],
        prefixEnd: [expect.any(String), " is"],
      });
      for (const name of ["llama2", "llama3", "qwen3"] as const) {
        expect(view(name, casesOf(name, SUM, template)), `${name} t${template}`).toEqual({
          targets: ["8"],
          prefixEnd: [" is", " "],
        });
      }
    }
  });

  it('"Q: … A: 8" the same way after "A:"', () => {
    expect(view("gpt2", casesOf("gpt2", SUM, 2))).toEqual({ targets: [" 8"], prefixEnd: ["A", ":"] });
    for (const name of ["llama2", "llama3", "qwen3"] as const) {
      expect(view(name, casesOf(name, SUM, 2)), name).toEqual({ targets: ["8"], prefixEnd: [":", " "] });
    }
  });

  it("the prefix of the first case is encode(prompt without its space), with the space token after it where the tokenizer splits it off", () => {
    for (const name of NAMES) {
      for (const template of TEMPLATE_IDS) {
        const tok = tokenizers[name];
        const [first] = casesOf(name, SUM, template);
        const bare = first!.prompt.trimEnd();
        const space = template === 4 || name === "gpt2" ? [] : [tok.textToId(" ")!];
        expect(first!.prefixIds, `${name} t${template}`).toEqual([...tok.encode(bare), ...space]);
      }
    }
  });

  it('"3+5=8" under template 4 is one case "8" on all four', () => {
    for (const name of NAMES) expect(view(name, casesOf(name, SUM, 4)).targets, name).toEqual(["8"]);
  });

  it('"123+456=579": one case "579" for Llama-3 (up to three digits a token), three for Qwen and Llama-2, on every template', () => {
    const pair: OperandPair = { op: "+", a: 123, b: 456 };
    for (const template of TEMPLATE_IDS) {
      expect(view("llama3", casesOf("llama3", pair, template)).targets, `t${template}`).toEqual(["579"]);
      for (const name of ["llama2", "qwen3"] as const) {
        expect(view(name, casesOf(name, pair, template)).targets, `${name} t${template}`).toEqual(["5", "7", "9"]);
      }
    }
  });

  it('"3-5=-2" gives the cases "-", "2" on all four: "=-" straddles the boundary, the answer is tokenized alone', () => {
    for (const name of NAMES) {
      const tok = tokenizers[name];
      const cases = casesOf(name, DIFFERENCE, 4);
      expect(view(name, cases).targets, name).toEqual(["-", "2"]);
      expect(
        cases.map((c) => c.boundaryFallback),
        name,
      ).toEqual([true, true]);
      expect(cases[0]!.prefixIds, name).toEqual(tok.encode("3-5="));
      expect(cases[1]!.prefixIds, name).toEqual([...tok.encode("3-5="), cases[0]!.target]);
    }
    // SentencePiece writes the answer alone as "▁-", "2": the case is the plain "-", not "▁-" or <0x2D>
    const sp = tokenizers.llama2;
    expect(sp.encodePlain("-2").map((id) => sp.tokenText(id))).toEqual([" -", "2"]);
    expect(casesOf("llama2", DIFFERENCE, 4)[0]!.target).toBe(sp.tokenToId("-"));
  });

  it('templates 1–3 keep a negative answer\'s own leading-space token as its first case (" -")', () => {
    for (const name of NAMES) {
      for (const template of [1, 2, 3] as const) {
        const cases = casesOf(name, DIFFERENCE, template);
        expect(view(name, cases).targets, `${name} t${template}`).toEqual([" -", "2"]);
        expect(cases[0]!.boundaryFallback).toBe(false);
      }
    }
  });

  it("counts the pairs that took the fallback: the 45 negative results of 1D '-' under template 4, and no others", () => {
    for (const name of NAMES) {
      for (const op of OPERATORS) {
        for (const template of TEMPLATE_IDS) {
          const expected = op === "-" && template === 4 ? 45 : 0;
          expect(
            countBoundaryFallbacks(buildCases(operandPairs(op, 1), template, tokenizers[name])),
            `${name} ${op} t${template}`,
          ).toBe(expected);
        }
      }
    }
  });

  it("the zoo's character tokenizer never takes the fallback", () => {
    for (const op of OPERATORS) {
      for (const template of TEMPLATE_IDS)
        expect(countBoundaryFallbacks(buildCases(operandPairs(op, 1), template, tokenizers.zoo))).toBe(0);
    }
  });
});
