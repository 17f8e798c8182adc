/**
 * The report's colours. Relative accuracy drops use a diverging blue–white–red scale centred at 0
 * (ColorBrewer RdBu): a head whose ablation hurts is red, one whose ablation helped is blue, and
 * no change is the neutral near-white. Its range is symmetric and taken from the data (see
 * {@link symmetricRange}): each heatmap spans ± the largest |drop| of its own cell, so a model
 * whose largest drop is a few percent still shows its structure; the legend beside each heatmap
 * gives that range with signs. Verification series use three distinct colours from the Okabe–Ito
 * palette (safe for colour-blind readers), with distinct markers and dashes so they also survive
 * greyscale printing.
 */

/** ColorBrewer "RdBu" (11 classes), reordered from most negative (blue) through neutral to most positive (red). */
export const DIVERGING: readonly string[] = [
  "#053061",
  "#2166ac",
  "#4393c3",
  "#92c5de",
  "#d1e5f0",
  "#f7f7f7",
  "#fddbc7",
  "#f4a582",
  "#d6604d",
  "#b2182b",
  "#67001f",
];

/** The colour of 0 (no change), the middle of {@link DIVERGING}. */
export const NEUTRAL = DIVERGING[(DIVERGING.length - 1) / 2]!;

const rgb = (hex: string): [number, number, number] =>
  [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
const hex2 = (v: number) => Math.round(v).toString(16).padStart(2, "0");

/**
 * The half-width of a symmetric scale over `values`: the largest |value| (NaN and infinities
 * ignored), 0 when there is none.
 */
export function symmetricRange(values: Iterable<number>): number {
  let m = 0;
  for (const v of values) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return m;
}

/** v / maxAbs clamped to [−1, 1]; 0 for NaN or an empty range. */
export function scaled(v: number, maxAbs: number): number {
  if (Number.isNaN(v) || !(maxAbs > 0)) return 0;
  return Math.min(1, Math.max(-1, v / maxAbs));
}

/** The colour of a relative drop v on the scale ±maxAbs: DIVERGING interpolated linearly in RGB. */
export function divergingColor(v: number, maxAbs: number): string {
  const x = ((scaled(v, maxAbs) + 1) / 2) * (DIVERGING.length - 1);
  const i = Math.min(Math.floor(x), DIVERGING.length - 2);
  const f = x - i;
  const a = rgb(DIVERGING[i]!);
  const b = rgb(DIVERGING[i + 1]!);
  return `#${a.map((u, k) => hex2(u + (b[k]! - u) * f)).join("")}`;
}

/** Text drawn on a cell of colour divergingColor(v, maxAbs) stays readable: white on the darker ends. */
export const textOnDiverging = (v: number, maxAbs: number): string =>
  Math.abs(scaled(v, maxAbs)) > 0.6 ? "#ffffff" : "#1a1a1a";

/** The colour that outlines each cell's top head: black stands out on the reds, the blues and the white. */
export const TOP_HEAD_STROKE = "#000000";

export type Series = "mask" | "keep" | "random";

/** Legend labels say which neurons are zeroed, so the direction of "keep" is plain. */
export const SERIES_STYLE: Readonly<
  Record<Series, { color: string; dash: string; marker: "circle" | "square" | "triangle"; label: string }>
> = {
  mask: { color: "#d55e00", dash: "", marker: "circle", label: "mask top-K (zero them)" },
  keep: { color: "#009e73", dash: "", marker: "square", label: "keep only top-K (zero the rest)" },
  random: { color: "#6e6e6e", dash: "4 3", marker: "triangle", label: "mask K random (control)" },
};
