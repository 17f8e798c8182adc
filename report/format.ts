/**
 * How numbers and text appear in the report. Every number is formatted by one fixed rule per
 * kind, and every key number is emitted with its raw value (`data-value`), the rule
 * (`data-format`) and where it came from (`data-path`, a JSON Pointer into rankings.json, or
 * `data-derived`, the name of a computation over it), so a test can check the page against the
 * file exactly.
 */

/** The formatting rules: fractions as percentages (1 decimal), scores (3), coefficients and depths (2), counts, signs (±1). */
export type NumberFormat = "pct" | "score" | "coef" | "depth" | "int" | "sign";

const MINUS = "\u2212";

/** toFixed without "-0.0" and with a typographic minus sign. */
export function fixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  if (/^-0(\.0*)?$/.test(s)) return s.slice(1);
  return s.startsWith("-") ? `${MINUS}${s.slice(1)}` : s;
}

export const FORMATS: Readonly<Record<NumberFormat, (x: number) => string>> = {
  pct: (x) => `${fixed(100 * x, 1)}%`,
  score: (x) => fixed(x, 3),
  coef: (x) => fixed(x, 2),
  depth: (x) => fixed(x, 2),
  int: (x) => (Number.isInteger(x) ? String(x).replace("-", MINUS) : fixed(x, 0)),
  sign: (x) => (x < 0 ? `${MINUS}1` : "+1"),
};

export function formatNumber(x: number, format: NumberFormat): string {
  return FORMATS[format](x);
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for element content and quoted attribute values alike. */
export function esc(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (ch) => ENTITIES[ch]!);
}

/** A JSON Pointer (RFC 6901) into rankings.json, e.g. ptr("cells", 0, "heads", 3, "relativeDrop"). */
export function ptr(...parts: ReadonlyArray<string | number>): string {
  return parts.map((p) => `/${String(p).replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

/**
 * Where a shown number comes from: a value of rankings.json (JSON Pointer), a named computation
 * over rankings.json, or a value of provenance.json (JSON Pointer).
 */
export type NumberSource = { path: string } | { derived: string } | { provenance: string };

/** The data-* attributes of a key number (leading space included). */
export function numAttrs(value: number, source: NumberSource, format?: NumberFormat): string {
  const from =
    "path" in source
      ? ` data-path="${esc(source.path)}"`
      : "derived" in source
        ? ` data-derived="${esc(source.derived)}"`
        : ` data-provenance-path="${esc(source.provenance)}"`;
  return ` data-value="${esc(String(value))}"${format ? ` data-format="${format}"` : ""}${from}`;
}

/** A formatted number in a <span> carrying its raw value. */
export function num(value: number, format: NumberFormat, source: NumberSource, extra = ""): string {
  return `<span class="num"${numAttrs(value, source, format)}${extra}>${esc(formatNumber(value, format))}</span>`;
}

/** Heads print as L9H1 and neurons as L11N2824, 0-based (core/heads.ts). */
export { headName, neuronName } from "../core/index.ts";

/** σ of a neuron's top tokens (docs/method.md §4), or a dash where the tokens were not filled. */
export function tokensSignHtml(sign: number | undefined, source: NumberSource): string {
  return sign === undefined ? '<span class="muted">—</span>' : num(sign, "sign", source);
}

/** A token as the model writes it, with its spaces and control characters made visible. */
export function tokenHtml(token: string): string {
  const visible = token.replace(/ /g, "\u2423").replace(/\n/g, "\u21b5").replace(/\t/g, "\u21e5");
  return `<code class="tok">${esc(visible)}</code>`;
}
