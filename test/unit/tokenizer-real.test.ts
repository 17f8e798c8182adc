/**
 * loadTokenizer on real tokenizer files (Llama-2-style SentencePiece with byte fallback,
 * Llama-3 and Qwen byte-level BPE) and on a GPT-2-layout one: the start token AutoTokenizer
 * adds, each token's text, the token spelling a text, nothing lost.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadTokenizer } from "../../worker/index.ts";
import type { ModelTokenizer } from "../../worker/index.ts";
import { END_TOKEN, charTokenizerConfig, charTokenizerJson } from "../helpers/checkpoint.ts";
import { REAL_TOKENIZERS, realTokenizerDir, writeGpt2StyleTokenizer } from "../helpers/tokenizers.ts";
import type { RealTokenizerName } from "../helpers/tokenizers.ts";

const scratch = mkdtempSync(join(tmpdir(), "cna-tokenizers-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const loaded = new Map<string, ModelTokenizer>();
function real(name: RealTokenizerName | "gpt2"): ModelTokenizer {
  let tok = loaded.get(name);
  if (!tok)
    loaded.set(
      name,
      (tok = loadTokenizer(name === "gpt2" ? writeGpt2StyleTokenizer(join(scratch, "gpt2")) : realTokenizerDir(name))),
    );
  return tok;
}

/** A directory with `name`'s tokenizer.json and this tokenizer_config.json. */
function withConfig(name: RealTokenizerName, config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(scratch, `${name}-`));
  symlinkSync(join(realTokenizerDir(name), "tokenizer.json"), join(dir, "tokenizer.json"));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(config));
  return dir;
}

function failure(run: () => unknown): Error & Record<string, unknown> {
  try {
    run();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error("expected a failure");
}

describe("loadTokenizer: the start token AutoTokenizer adds", () => {
  it("puts <s> in front for Llama-2/Mistral (tokenizer_config add_bos_token: true), and only in encode()", () => {
    const tok = real("llama2");
    const bos = tok.tokenToId("<s>")!;
    expect(bos).toBe(1);
    expect(tok.encode("3+5=")).toEqual([bos, ...tok.encodePlain("3+5=")]);
    expect(tok.encodePlain("3+5=")).not.toContain(bos);
  });

  it("adds none for this Llama-3 file (it states no flag and its post-processor adds none), Qwen or GPT-2", () => {
    for (const name of ["llama3", "qwen3", "gpt2"] as const) {
      const tok = real(name);
      expect(tok.encode("3+5="), name).toEqual(tok.encodePlain("3+5="));
      expect(tok.encode("3+5="), name).toHaveLength(4);
    }
    expect(real("llama3").encode("3+5=")[0]).not.toBe(real("llama3").tokenToId("<|begin_of_text|>"));
  });

  it("follows add_bos_token / add_eos_token stated in tokenizer_config.json over tokenizer.json's post-processor", () => {
    const llama3 = loadTokenizer(withConfig("llama3", { bos_token: "<|begin_of_text|>", add_bos_token: true }));
    expect(llama3.encode("3+5=")).toEqual([128000, ...llama3.encodePlain("3+5=")]);
    const llama2 = loadTokenizer(
      withConfig("llama2", { bos_token: "<s>", eos_token: "</s>", add_bos_token: false, add_eos_token: true }),
    );
    expect(llama2.encode("3+5=")).toEqual([...llama2.encodePlain("3+5="), 2]);
  });

  it("refuses a flag that names no token, or a flag that is not true or false, naming the field", () => {
    const noBos = withConfig("qwen3", { bos_token: null, add_bos_token: true });
    expect(failure(() => loadTokenizer(noBos))).toMatchObject({
      code: "BAD_TOKENIZER",
      path: join(noBos, "tokenizer_config.json"),
      message: expect.stringContaining("field add_bos_token is true but field bos_token names no token"),
    });
    const unknownBos = withConfig("llama2", { bos_token: "<start>", add_bos_token: true });
    expect(failure(() => loadTokenizer(unknownBos))).toMatchObject({
      code: "BAD_TOKENIZER",
      message: expect.stringContaining("bos_token"),
    });
    const notBoolean = withConfig("llama2", { add_eos_token: "yes" });
    expect(failure(() => loadTokenizer(notBoolean))).toMatchObject({
      code: "BAD_TOKENIZER",
      message: expect.stringContaining("field add_eos_token must be true or false"),
    });
  });
});

describe("loadTokenizer: token texts", () => {
  it("spells spaces where decode() would strip them", () => {
    const sp = real("llama2");
    expect(sp.tokenText(sp.tokenToId("▁is")!)).toBe(" is");
    expect(sp.decode([sp.tokenToId("▁is")!])).toBe("is");
    expect(sp.tokenText(sp.tokenToId("▁")!)).toBe(" ");
    expect(sp.tokenText(sp.tokenToId("<0x2D>")!)).toBe("-");
    expect(sp.tokenText(sp.tokenToId("<0xE2>")!)).toBeUndefined(); // only part of a character
    expect(sp.tokenText(1)).toBe("<s>");
    for (const name of ["llama3", "qwen3", "gpt2"] as const) {
      const bl = real(name);
      expect(bl.tokenText(bl.tokenToId("Ġis")!), name).toBe(" is");
      expect(bl.tokenText(bl.tokenToId("Ġ")!), name).toBe(" ");
      expect(bl.tokenText(bl.tokenToId("Ċ")!), name).toBe("\n");
    }
    expect(real("gpt2").tokenText(real("gpt2").tokenToId("Ġ8")!)).toBe(" 8");
    expect(real("llama3").tokenText(real("llama3").tokenToId("579")!)).toBe("579");
    expect(real("llama3").tokenText(10 ** 7)).toBeUndefined();
  });

  // The library's decoders are the reference: a byte-level decode of one token is its text, and a
  // SentencePiece decode differs only by the one leading space its Strip step removes.
  it.each(REAL_TOKENIZERS)("agrees with the library's decoder on every token of %s", (name) => {
    const tok = real(name);
    let compared = 0;
    for (let id = 0; id < tok.vocabSize; id++) {
      const text = tok.tokenText(id);
      const decoded = tok.decode([id]);
      if (text === undefined) {
        expect(decoded, `id ${id}`).toContain("\uFFFD");
        continue;
      }
      expect(name === "llama2" && text.startsWith(" ") ? text.slice(1) : text, `id ${id}`).toBe(decoded);
      compared++;
    }
    expect(compared).toBeGreaterThan(tok.vocabSize * 0.95);
  });

  it("finds the token spelling a text, a plain piece before a byte-fallback one, never a special token", () => {
    const sp = real("llama2");
    expect(sp.textToId("-")).toBe(sp.tokenToId("-"));
    expect(sp.textToId("-")).not.toBe(sp.tokenToId("<0x2D>"));
    expect(sp.textToId(" is")).toBe(sp.tokenToId("▁is"));
    expect(sp.textToId("\n")).toBe(sp.tokenToId("<0x0A>")); // SentencePiece has no plain piece for it
    expect(sp.textToId("<s>")).toBeUndefined();
    expect(sp.textToId("no such token at all")).toBeUndefined();
    const bl = real("llama3");
    expect(bl.textToId("579")).toBe(bl.tokenToId("579"));
    expect(bl.textToId(" is")).toBe(bl.tokenToId("Ġis"));
    expect(bl.textToId("<|begin_of_text|>")).toBeUndefined();
  });
});

describe("loadTokenizer: nothing lost", () => {
  it("spells any text with byte-level symbols or byte fallback, and decodes it back", () => {
    const text = "3+5=é€日本\u0001";
    for (const name of [...REAL_TOKENIZERS, "gpt2"] as const) {
      const tok = real(name);
      expect(tok.decode(tok.encodePlain(text)), name).toBe(text);
    }
    const sp = real("llama2");
    expect(sp.encodePlain("€")).not.toContain(sp.tokenToId("<unk>"));
  });

  it("refuses text that maps to the unknown token, even behind a normalizer", () => {
    // The zoo's vocabulary with an unknown token and a normalizer: decoding cannot show the loss
    // there, the unknown id does.
    const dir = mkdtempSync(join(scratch, "unk-"));
    const spec = charTokenizerJson();
    spec["normalizer"] = { type: "NFC" };
    (spec["model"] as Record<string, unknown>)["unk_token"] = END_TOKEN;
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(spec));
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(charTokenizerConfig(16)));
    const tok = loadTokenizer(dir);
    expect(tok.encode("3+5=")).toHaveLength(4);
    expect(failure(() => tok.encode("3+5=Z"))).toMatchObject({
      code: "TOKENIZATION_FAILED",
      text: "3+5=Z",
      message: expect.stringContaining(`they map to ${END_TOKEN}`),
    });
  });
});
