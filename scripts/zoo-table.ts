/**
 * Renders the zoo's accuracy table (README.md) from the model cards that models/reference.py
 * --cards fills. `node --import tsx scripts/zoo-table.ts` prints it; a test keeps README in step.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

interface CardRow {
  op: string;
  digits: number;
  template: number;
  cases: number;
  accuracy: number;
  heldOut: boolean;
}

export interface ModelCard {
  name: string;
  architecture: { n_layer: number; n_head: number; n_embd: number };
  parameters: number;
  training: { seed: number; steps: number; wall_time_s: number };
  accuracy: Record<string, CardRow> | null;
}

export function loadCards(zooDir: string): ModelCard[] {
  return readdirSync(zooDir)
    .filter((d) => existsSync(join(zooDir, d, "model_card.json")))
    .sort()
    .map((d) => JSON.parse(readFileSync(join(zooDir, d, "model_card.json"), "utf8")) as ModelCard);
}

const pct = (x: number) => (100 * x).toFixed(1);

export function renderZooTable(cards: ModelCard[]): string {
  const header = `| task | ${cards.map((c) => `${c.name}<br>${c.architecture.n_layer}L×${c.architecture.n_head}H×d${c.architecture.n_embd}, seed ${c.training.seed}`).join(" | ")} |`;
  const lines = [header, `|---|${cards.map(() => "---:").join("|")}|`];
  const keys = Object.keys(cards[0]?.accuracy ?? {});
  for (const key of keys) {
    const row = cards[0]!.accuracy![key]!;
    const task = `${row.op} ${row.digits}D, template ${row.template}${row.heldOut ? " (held out)" : ""}`;
    lines.push(`| ${task} | ${cards.map((c) => (c.accuracy?.[key] ? pct(c.accuracy[key]!.accuracy) : "–")).join(" | ")} |`);
  }
  lines.push(`| parameters · steps · CPU wall time | ${cards.map((c) => `${(c.parameters / 1e6).toFixed(2)} M · ${c.training.steps} · ${Math.round(c.training.wall_time_s / 60)} min`).join(" | ")} |`);
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.stdout.write(`${renderZooTable(loadCards(join(import.meta.dirname, "..", "models")))}\n`);
}
