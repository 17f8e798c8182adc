/**
 * The provenance `cna run` writes beside rankings.json (provenance.json: the sweep file, model
 * digests, versions, execution provider, timings, shard and retry counts), or the part of it a
 * coordinator can tell (`cna report ID`). Every field is optional: the report shows what it has.
 */
import { esc, num, ptr } from "./format.ts";
import { ReportInputError } from "./errors.ts";

export interface StageCounts {
  stage: string;
  total: number;
  stored: number;
  quarantined: number;
}
export interface QuarantinedShardInfo {
  shardId: string;
  cell: string;
  stage: string;
  reason: string;
}

/** Cells of the sweep's plan, and how they ended (a failed cell has a quarantined shard). */
export interface CellCounts {
  planned: number;
  done: number;
  failed: number;
}

export interface ReportProvenance {
  /** the sweep's name (its file's `name:`): the report's title */
  name?: string;
  /** the sweep's id on a coordinator */
  sweepId?: string;
  /** the sweep's final (or current) state: "running", "succeeded", "failed" or "cancelled" */
  state?: string;
  /** the planned cells: rankings.json lists only those with results, so this tells what is missing */
  cells?: CellCounts;
  /** absolute path of the sweep file */
  sweepFile?: string;
  /** the sweep file's text */
  sweep?: string;
  models?: Array<{ id: string; path?: string; sha256?: string }>;
  /** ISO 8601 */
  startedAt?: string;
  finishedAt?: string;
  workers?: number;
  /** execution provider: "cpu" or "cuda" */
  provider?: string;
  /** "embedded", "distributed in one process (NATS …)", "coordinator" */
  mode?: string;
  versions?: Record<string, string>;
  shards?: StageCounts[];
  redeliveries?: number;
  duplicates?: number;
  nondeterministic?: number;
  quarantined?: QuarantinedShardInfo[];
}

type Kind = "string" | "number";

/** Checks provenance.json's shape (unknown fields are ignored), naming the first bad field. */
export function parseProvenance(raw: unknown, source: string): ReportProvenance {
  const bad = (field: string, want: string) => new ReportInputError(source, field, `expected ${want}`);
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObj(raw)) throw bad("(root)", "an object");
  const check = (obj: Record<string, unknown>, prefix: string, fields: Record<string, Kind>) => {
    for (const [k, kind] of Object.entries(fields))
      if (obj[k] !== undefined && typeof obj[k] !== kind) throw bad(`${prefix}${k}`, `a ${kind}`);
  };
  check(raw, "", {
    name: "string",
    sweepId: "string",
    state: "string",
    sweepFile: "string",
    sweep: "string",
    startedAt: "string",
    finishedAt: "string",
    workers: "number",
    provider: "string",
    mode: "string",
    redeliveries: "number",
    duplicates: "number",
    nondeterministic: "number",
  });
  const list = (key: string, fields: Record<string, Kind>, required: readonly string[]) => {
    const v = raw[key];
    if (v === undefined) return;
    if (!Array.isArray(v)) throw bad(key, "an array");
    v.forEach((item: unknown, i) => {
      if (!isObj(item)) throw bad(`${key}[${i}]`, "an object");
      for (const r of required) if (item[r] === undefined) throw bad(`${key}[${i}].${r}`, `a ${fields[r]}`);
      check(item, `${key}[${i}].`, fields);
    });
  };
  list("models", { id: "string", path: "string", sha256: "string" }, ["id"]);
  list("shards", { stage: "string", total: "number", stored: "number", quarantined: "number" }, [
    "stage",
    "total",
    "stored",
    "quarantined",
  ]);
  list("quarantined", { shardId: "string", cell: "string", stage: "string", reason: "string" }, [
    "shardId",
    "cell",
    "stage",
    "reason",
  ]);
  if (raw.cells !== undefined) {
    if (!isObj(raw.cells)) throw bad("cells", "an object");
    for (const k of ["planned", "done", "failed"])
      if (typeof raw.cells[k] !== "number") throw bad(`cells.${k}`, "a number");
  }
  if (raw.versions !== undefined) {
    if (!isObj(raw.versions)) throw bad("versions", "an object");
    check(raw.versions, "versions.", Object.fromEntries(Object.keys(raw.versions).map((k) => [k, "string" as const])));
  }
  return raw;
}

const row = (label: string, value: string) => `<dt>${esc(label)}</dt><dd>${value}</dd>`;

/** Seconds between two ISO times, or undefined when either is missing or unreadable. */
export function durationSeconds(p: ReportProvenance): number | undefined {
  if (!p.startedAt || !p.finishedAt) return undefined;
  const s = (Date.parse(p.finishedAt) - Date.parse(p.startedAt)) / 1000;
  return Number.isFinite(s) ? s : undefined;
}

export function renderProvenance(p: ReportProvenance | undefined): string {
  if (!p)
    return `<section id="provenance"><h2>Provenance</h2><p class="muted">No provenance was given: the report shows the rankings only.</p></section>`;
  const pv = (field: string) => ({ provenance: ptr(field) });
  const facts: string[] = [];
  if (p.name !== undefined) facts.push(row("name", esc(p.name)));
  if (p.sweepId !== undefined)
    facts.push(row("sweep", `<span class="id">${esc(p.sweepId)}</span>${p.state ? ` (${esc(p.state)})` : ""}`));
  else if (p.state !== undefined) facts.push(row("state", esc(p.state)));
  if (p.sweepFile !== undefined) facts.push(row("sweep file", `<code>${esc(p.sweepFile)}</code>`));
  if (p.cells !== undefined)
    facts.push(
      row(
        "cells",
        `${num(p.cells.planned, "int", { provenance: ptr("cells", "planned") })} planned · ${num(p.cells.done, "int", { provenance: ptr("cells", "done") })} done · ${num(p.cells.failed, "int", { provenance: ptr("cells", "failed") })} failed`,
      ),
    );
  if (p.mode !== undefined) facts.push(row("mode", esc(p.mode)));
  if (p.provider !== undefined) facts.push(row("execution provider", esc(p.provider)));
  if (p.workers !== undefined) facts.push(row("workers", num(p.workers, "int", pv("workers"))));
  if (p.startedAt !== undefined) facts.push(row("started", `<time>${esc(p.startedAt)}</time>`));
  if (p.finishedAt !== undefined) facts.push(row("finished", `<time>${esc(p.finishedAt)}</time>`));
  const seconds = durationSeconds(p);
  if (seconds !== undefined) facts.push(row("duration", `${esc(seconds.toFixed(1))} s`));
  if (p.versions)
    facts.push(
      row(
        "versions",
        Object.entries(p.versions)
          .map(([k, v]) => `${esc(k)} <code>${esc(v)}</code>`)
          .join(" · "),
      ),
    );
  const retries = (["redeliveries", "duplicates", "nondeterministic"] as const)
    .filter((k) => p[k] !== undefined)
    .map((k) => `${num(p[k]!, "int", pv(k))} ${k === "nondeterministic" ? "non-deterministic duplicates" : k}`);
  if (retries.length) facts.push(row("retries", retries.join(" · ")));
  const parts = [`<dl class="facts">${facts.join("")}</dl>`];
  if (p.shards?.length) {
    const rows = p.shards.map(
      (s, i) =>
        `<tr><td>${esc(s.stage)}</td>${(["total", "stored", "quarantined"] as const).map((k) => `<td>${num(s[k], "int", { provenance: ptr("shards", i, k) })}</td>`).join("")}</tr>`,
    );
    parts.push(
      `<table class="numbers small"><caption>Shards per stage.</caption><thead><tr><th>stage</th><th>planned</th><th>stored</th><th>quarantined</th></tr></thead><tbody>${rows.join("")}</tbody></table>`,
    );
  }
  if (p.quarantined?.length) {
    parts.push(
      `<table class="numbers small warn"><caption>Quarantined shards (failed every delivery; their cells are incomplete).</caption><thead><tr><th>shard</th><th class="l">cell</th><th class="l">stage</th><th class="l">reason</th></tr></thead><tbody>${p.quarantined.map((q) => `<tr><td class="id">${esc(q.shardId)}</td><td class="l">${esc(q.cell)}</td><td class="l">${esc(q.stage)}</td><td class="l">${esc(q.reason)}</td></tr>`).join("")}</tbody></table>`,
    );
  }
  if (p.models?.length) {
    parts.push(
      `<table class="numbers models"><caption>Models (content digest: SHA-256 over the config, tokenizer and weight files).</caption><thead><tr><th>model</th><th class="l">path</th><th class="l">sha256</th></tr></thead><tbody>${p.models.map((m) => `<tr><td class="model">${esc(m.id)}</td><td class="l"><code>${esc(m.path ?? "")}</code></td><td class="l"><code class="digest">${esc(m.sha256 ?? "")}</code></td></tr>`).join("")}</tbody></table>`,
    );
  }
  if (p.sweep !== undefined)
    parts.push(
      `<figure class="sweep-file"><figcaption>Sweep file${p.sweepFile ? ` <code>${esc(p.sweepFile)}</code>` : ""}</figcaption><pre>${esc(p.sweep)}</pre></figure>`,
    );
  return `<section id="provenance"><h2>Provenance</h2>${parts.join("")}</section>`;
}
