/** Small helpers for hand-written SVG: numbers with few digits, markers, text. */
import { esc } from "./format.ts";

/** A coordinate with at most 2 decimals (keeps the file small and diff-stable). */
export const c = (x: number): string => String(Math.round(x * 100) / 100);

export function text(x: number, y: number, content: string, attrs = ""): string {
  return `<text x="${c(x)}" y="${c(y)}"${attrs ? ` ${attrs}` : ""}>${esc(content)}</text>`;
}

/** A marker centred on (x, y); `extra` carries data-* attributes and the <title> goes inside. */
export function marker(
  shape: "circle" | "square" | "triangle",
  x: number,
  y: number,
  size: number,
  fill: string,
  extra: string,
  title: string,
): string {
  const t = `<title>${esc(title)}</title>`;
  if (shape === "circle")
    return `<circle cx="${c(x)}" cy="${c(y)}" r="${c(size)}" fill="${fill}"${extra}>${t}</circle>`;
  if (shape === "square")
    return `<rect x="${c(x - size)}" y="${c(y - size)}" width="${c(2 * size)}" height="${c(2 * size)}" fill="${fill}"${extra}>${t}</rect>`;
  const h = size * 1.2;
  return `<path d="M${c(x)} ${c(y - h)}L${c(x + h)} ${c(y + h * 0.8)}L${c(x - h)} ${c(y + h * 0.8)}Z" fill="${fill}"${extra}>${t}</path>`;
}

/** Every `step`-th index of 0..n-1, so axis labels never crowd (at most ~max labels). */
export function tickIndices(n: number, max = 16): number[] {
  const step = Math.max(1, Math.ceil(n / max));
  const out: number[] = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}
