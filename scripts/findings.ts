/**
 * The paper's finding, measured on a sweep: per model and operator, the top head's relative
 * accuracy drop next to the median head's, and verification mask vs random at K = 10 and 20.
 *
 *   node --import tsx scripts/findings.ts cna-out/zoo-quick/rankings.json
 */
import { readFileSync } from "node:fs";
import type { Rankings } from "../core/index.ts";

const pct = (x: number | undefined) => (x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);

export function findingsTable(r: Rankings): string {
  const lines = [
    "| model | op | baseline | top head | its relative drop | median head's drop | mask K=10 | random K=10 | mask K=20 | random K=20 |",
    "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const c of r.cells) {
    const heads = c.heads ?? [];
    const drops = heads.map((h) => h.relativeDrop).sort((a, b) => a - b);
    const median = drops.length ? drops[Math.floor((drops.length - 1) / 2)] : undefined;
    const at = (variant: "mask" | "random", k: number) =>
      c.verification?.[variant].find((p) => p.k === k)?.relativeDecrease;
    lines.push(
      `| ${c.model} | ${c.op} | ${pct(c.baselineAccuracy)} | ${heads[0] ? `${heads[0].layer}.${heads[0].head}` : "–"} | ${pct(heads[0]?.relativeDrop)} | ${pct(median)} | ${pct(at("mask", 10))} | ${pct(at("random", 10))} | ${pct(at("mask", 20))} | ${pct(at("random", 20))} |`,
    );
  }
  return lines.join("\n");
}

if (process.argv[2])
  process.stdout.write(`${findingsTable(JSON.parse(readFileSync(process.argv[2], "utf8")) as Rankings)}\n`);
