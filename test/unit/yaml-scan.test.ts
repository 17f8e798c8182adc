/**
 * scanYaml: the bound on a YAML text's nesting read with the parser alone, before anything
 * composes it. It must pass every document within the depth limit (the exact check comes after
 * composing), stop texts nested far past it without recursing, and whatever it passes must
 * compose at a depth that cannot run the composer out of stack.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isMap, isPair, isSeq, parseAllDocuments, stringify } from "yaml";
import { MAX_YAML_DEPTH, mulberry32, resolveSweepLimits, scanYaml } from "../../core/index.ts";
import type { Rng } from "../../core/index.ts";

const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

/** The depth of the composed documents (the deepest of them), walked without recursion, and whether they parsed cleanly. */
function composed(text: string): { depth: number; valid: boolean } {
  let depth = 0;
  let valid = true;
  for (const doc of parseAllDocuments(text, { uniqueKeys: false })) {
    if (!("contents" in doc)) continue;
    valid &&= doc.errors.length === 0;
    const stack: Array<[unknown, number]> = [[doc.contents, 1]];
    while (stack.length > 0) {
      const [node, d] = stack.pop()!;
      if (isMap(node) || isSeq(node)) {
        depth = Math.max(depth, d);
        for (const item of node.items) stack.push([item, d + 1]);
      } else if (isPair(node)) stack.push([node.key, d], [node.value, d]);
    }
  }
  return { depth, valid };
}

describe("scanYaml", () => {
  it("passes a document at its exact depth, whatever the style, and counts aliases", () => {
    const texts = [
      "a:\n- 1\n- b: [2, {c: *x}]\n",
      "- - - x\n  - y\n",
      "? a\n: - b\n",
      "[a: [b: c]]\n",
      "[[x, [y]]: z]\n",
      "k:\n  [x, [y]]: z\n",
      "a: |\n  - - - -\n  [[[[\n",
      'a: "[[[{" # [[[ - - -\n',
      "x: &a [1]\ny: [*a, *a]\n",
    ];
    for (const text of texts) {
      const { depth } = composed(text);
      expect(scanYaml(text, depth), text).toEqual({
        withinDepth: true,
        aliases: (text.match(/\*[a-z]/g) ?? []).length,
      });
    }
  });

  it("passes every example sweep file at the default depth limit", () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(scanYaml(readFileSync(join(EXAMPLES, f), "utf8"), 32).withinDepth, f).toBe(true);
  });

  it("stops deep texts of every shape without recursing", () => {
    for (const text of [
      `${"- ".repeat(200_000)}x\n`,
      `${"? ".repeat(200_000)}x\n`,
      `a: ${"[".repeat(200_000)}\n`,
      `[${"a: ".repeat(200_000)}b]\n`,
      `{${"a: ".repeat(200_000)}b}\n`,
      `${Array.from({ length: 1_000 }, (_, i) => `${" ".repeat(i)}k:`).join("\n")} 1\n`,
    ]) {
      expect(scanYaml(text, 32).withinDepth, text.slice(0, 20)).toBe(false);
    }
  });

  it("passes random documents at their depth; whatever it passes, random or damaged, composes within 4x the limit", () => {
    const rng = mulberry32(20_241_204);
    let checked = 0;
    for (let i = 0; i < 100; i++) {
      const text = stringify(randomValue(rng, 1 + rng.randomInt(7)), {
        indent: 1 + rng.randomInt(4),
        indentSeq: rng.next() < 0.5,
        collectionStyle: rng.next() < 0.3 ? "flow" : "any",
      });
      expect(scanYaml(text, composed(text).depth).withinDepth, text).toBe(true);
      let damaged = text;
      for (let k = 0; k < 3; k++) {
        damaged = damage(damaged, rng);
        const repeated = damaged.endsWith("\n") ? damaged.repeat(4) : `${damaged}\n`.repeat(4);
        for (const t of [damaged, repeated]) {
          const { depth, valid } = composed(t);
          for (const limit of [1, 4, 16]) {
            if (scanYaml(t, limit).withinDepth) expect(depth, JSON.stringify(t)).toBeLessThanOrEqual(4 * (limit + 8));
            // what it refuses, the exact check would refuse too, unless the text is not valid YAML
            else if (valid) expect(depth, JSON.stringify(t)).toBeGreaterThan(limit);
          }
          checked++;
        }
      }
    }
    expect(checked).toBe(600);
  });

  it("keeps the limit itself at or below MAX_YAML_DEPTH", () => {
    expect(resolveSweepLimits({ maxYamlDepth: MAX_YAML_DEPTH }).maxYamlDepth).toBe(MAX_YAML_DEPTH);
    expect(() => resolveSweepLimits({ maxYamlDepth: MAX_YAML_DEPTH + 1 })).toThrow(
      `maxYamlDepth must be at most ${MAX_YAML_DEPTH}, got ${MAX_YAML_DEPTH + 1}`,
    );
  });
});

/** Nested lists and mappings with plain, quoted and multi-line strings. */
function randomValue(rng: Rng, depth: number): unknown {
  if (depth === 0 || rng.next() < 0.2) {
    const strings = ["x", "- y", "[z]", "a: b", "# c", "multi\nline\n  - text", "' q", "{", "?", "&a", "*b"];
    return rng.next() < 0.5 ? rng.randomInt(100) : strings[rng.randomInt(strings.length)]!;
  }
  const n = 1 + rng.randomInt(3);
  if (rng.next() < 0.5) return Array.from({ length: n }, () => randomValue(rng, depth - 1));
  return Object.fromEntries(
    Array.from({ length: n }, (_, k) => [`k${k}${rng.randomInt(10)}`, randomValue(rng, depth - 1)]),
  );
}

/** The text with a few characters removed, or replaced by YAML indicators. */
function damage(text: string, rng: Rng): string {
  const bits = [
    "- ",
    "? ",
    ": ",
    "[",
    "]",
    "{",
    "}",
    "\n",
    " ",
    "  ",
    "|\n",
    "'",
    '"',
    "#",
    "&a ",
    "*a ",
    ",",
    "---\n",
  ];
  let out = text;
  for (let k = 0; k < 3; k++) {
    const at = rng.randomInt(out.length + 1);
    const cut = rng.randomInt(3);
    out =
      out.slice(0, at) +
      (rng.next() < 0.7 ? bits[rng.randomInt(bits.length)]! : "") +
      out.slice(Math.min(out.length, at + cut));
  }
  return out;
}
