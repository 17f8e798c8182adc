/**
 * The text a vocabulary token spells, and the token that spells a given text.
 *
 * tokenizer.json files write text into token strings in one of three ways:
 * - "byte-level" (GPT-2, Llama-3, Qwen): each byte of the UTF-8 text is one character, the
 *   printable Latin-1 bytes as themselves and the others shifted to U+0100 and up, so a space is
 *   "Ġ" and " 8" is "Ġ8";
 * - "sentencepiece" (Llama-2, Mistral): a space is "▁", and a byte the vocabulary has no piece
 *   for is a "<0xXX>" token (byte fallback);
 * - "plain" (the zoo's character vocabulary): the token string is its text.
 *
 * decode() cannot answer "what does this one token spell": a SentencePiece decoder strips the
 * leading space of the first token, so "▁8" alone decodes as "8". The boundary rule of
 * docs/method.md §1 needs exactly that space.
 */
export type TokenSpelling = "byte-level" | "sentencepiece" | "plain";

/**
 * GPT-2's bytes-to-unicode table: bytes "!".."~", "¡".."¬" and "®".."ÿ" stand for themselves;
 * the other 68 bytes (controls, space, DEL, NBSP, soft hyphen), in byte order, take the
 * characters from U+0100 on.
 */
const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let shifted = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 0x100 + shifted++));
})();
const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((ch, b) => [ch, b]));

/** The byte-level symbol of every byte, in byte order (a byte-level vocabulary holds all 256). */
export const BYTE_LEVEL_SYMBOLS: readonly string[] = BYTE_TO_CHAR;

/** The byte-fallback token of a byte: "<0x0A>" for a newline. */
export const byteFallbackToken = (byte: number): string => `<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`;

const utf8 = new TextEncoder();
// ignoreBOM: a token that is U+FEFF spells it; it is not a byte-order mark to drop.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * How a tokenizer.json spells text, read from its decoder (the part that turns token strings
 * back into text), or its pre-tokenizer when it has no decoder.
 */
export function detectSpelling(spec: Record<string, unknown>): TokenSpelling {
  const kinds = new Set<string>();
  const visit = (node: unknown) => {
    if (typeof node !== "object" || node === null) return;
    const n = node as { type?: unknown; decoders?: unknown; pretokenizers?: unknown; pattern?: { String?: unknown } };
    if (n.type === "ByteLevel") kinds.add("byte-level");
    if (n.type === "Metaspace" || n.type === "ByteFallback" || (n.type === "Replace" && n.pattern?.String === "▁"))
      kinds.add("sentencepiece");
    for (const child of [n.decoders, n.pretokenizers]) if (Array.isArray(child)) child.forEach(visit);
  };
  visit(spec["decoder"] ?? spec["pre_tokenizer"]);
  if (kinds.has("byte-level")) return "byte-level";
  return kinds.has("sentencepiece") ? "sentencepiece" : "plain";
}

/**
 * The text a (non-added) token string spells; undefined when it spells no whole text (a byte
 * that is only part of a UTF-8 character, or a string outside the byte-level alphabet).
 */
export function spelledText(token: string, spelling: TokenSpelling): string | undefined {
  switch (spelling) {
    case "plain":
      return token;
    case "sentencepiece": {
      const byte = /^<0x([0-9A-F]{2})>$/.exec(token);
      if (!byte) return token.replaceAll("▁", " ");
      const value = Number.parseInt(byte[1]!, 16);
      return value < 0x80 ? String.fromCharCode(value) : undefined;
    }
    case "byte-level": {
      const bytes: number[] = [];
      for (const ch of token) {
        const b = CHAR_TO_BYTE.get(ch);
        if (b === undefined) return undefined;
        bytes.push(b);
      }
      try {
        return strictUtf8.decode(new Uint8Array(bytes));
      } catch {
        return undefined;
      }
    }
  }
}

/**
 * The token strings that would spell `text` on their own, best first: the plain piece before a
 * byte-fallback token (SentencePiece has both "-" and "<0x2D>"; the model reads the first).
 */
export function tokensSpelling(text: string, spelling: TokenSpelling): string[] {
  switch (spelling) {
    case "plain":
      return [text];
    case "sentencepiece": {
      const bytes = utf8.encode(text);
      return bytes.length === 1
        ? [text.replaceAll(" ", "▁"), byteFallbackToken(bytes[0]!)]
        : [text.replaceAll(" ", "▁")];
    }
    case "byte-level":
      return [Array.from(utf8.encode(text), (b) => BYTE_TO_CHAR[b]!).join("")];
  }
}
