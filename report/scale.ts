/**
 * The report's colours. Relative accuracy drops use one sequential blue scale with a fixed domain
 * (0 % to 100 %), so the same colour means the same drop in every cell and every model; a negative
 * drop (ablating the head helped) is drawn as 0. Verification series use three distinct colours
 * from the Okabe–Ito palette (safe for colour-blind readers), with distinct markers and dashes
 * so they also survive greyscale printing.
 */

/** ColorBrewer "Blues" (9 classes), lightest to darkest. */
export const BLUES: readonly string[] = [
  "#f7fbff",
  "#deebf7",
  "#c6dbef",
  "#9ecae1",
  "#6baed6",
  "#4292c6",
  "#2171b5",
  "#08519c",
  "#08306b",
];

const rgb = (hex: string): [number, number, number] =>
  [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
const hex2 = (v: number) => Math.round(v).toString(16).padStart(2, "0");

/** Clamps t to [0, 1]; NaN counts as 0. */
export const clamp01 = (t: number): number => (Number.isNaN(t) ? 0 : Math.min(1, Math.max(0, t)));

/** The colour of a relative drop t (a fraction): BLUES interpolated linearly in RGB, clamped to [0, 1]. */
export function dropColor(t: number): string {
  const x = clamp01(t) * (BLUES.length - 1);
  const i = Math.min(Math.floor(x), BLUES.length - 2);
  const f = x - i;
  const a = rgb(BLUES[i]!);
  const b = rgb(BLUES[i + 1]!);
  return `#${a.map((v, k) => hex2(v + (b[k]! - v) * f)).join("")}`;
}

/** Text drawn on a cell of colour dropColor(t) stays readable: white on the darker half of the scale. */
export const textOnDrop = (t: number): string => (clamp01(t) > 0.55 ? "#ffffff" : "#1a1a1a");

/** The colour that outlines each cell's top head: stands out on every blue. */
export const TOP_HEAD_STROKE = "#e66100";

export type Series = "mask" | "keep" | "random";

export const SERIES_STYLE: Readonly<
  Record<Series, { color: string; dash: string; marker: "circle" | "square" | "triangle"; label: string }>
> = {
  mask: { color: "#d55e00", dash: "", marker: "circle", label: "mask top-K" },
  keep: { color: "#009e73", dash: "", marker: "square", label: "keep top-K" },
  random: { color: "#6e6e6e", dash: "4 3", marker: "triangle", label: "random K (control)" },
};
