/**
 * The banner at the top of a report whose sweep did not finish cleanly: a running sweep's
 * rankings are partial; a failed or cancelled one's lack cells. rankings.json lists only the
 * cells that have results, so what is missing comes from the provenance the report already
 * reads: the planned cell count (`cells.planned`) and the quarantined shards, each naming its
 * cell, stage and reason. A cell with no ranked stage is missing; one whose later stage was
 * quarantined is incomplete.
 */
import type { CellKey, Rankings } from "../core/index.ts";
import { esc } from "./format.ts";
import type { QuarantinedShardInfo, ReportProvenance } from "./provenance.ts";

/** A cell as the coordinator names it in quarantine records: "model op 1D t4". */
export const cellKeyName = (k: CellKey): string => `${k.model} ${k.op} ${k.digits}D t${k.template}`;

export interface SweepShortfall {
  /** cells planned but absent from the rankings; undefined when the provenance gives no plan and nothing was quarantined */
  missing: number;
  /** planned cells, when the provenance says */
  planned?: number;
  /** missing cells a quarantined shard names, in quarantine order */
  missingCells: string[];
  /** cells in the rankings that a quarantined shard belongs to: a later stage is absent */
  incompleteCells: string[];
  quarantined: QuarantinedShardInfo[];
  /** the sweep's state as provenance gives it ("failed", "cancelled", …) */
  state?: string;
}

const unique = (xs: readonly string[]): string[] => [...new Set(xs)];

/** What the rankings lack against the plan, from the provenance. */
export function sweepShortfall(r: Rankings, p: ReportProvenance | undefined): SweepShortfall {
  const present = new Set(r.cells.map(cellKeyName));
  const quarantined = p?.quarantined ?? [];
  const named = unique(quarantined.map((q) => q.cell));
  const missingCells = named.filter((c) => !present.has(c));
  const planned = p?.cells?.planned;
  return {
    missing: planned === undefined ? missingCells.length : Math.max(planned - r.cells.length, missingCells.length),
    ...(planned === undefined ? {} : { planned }),
    missingCells,
    incompleteCells: named.filter((c) => present.has(c)),
    quarantined,
    ...(p?.state === undefined ? {} : { state: p.state }),
  };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The banner, or "" when the sweep finished with every planned cell. `running`: the sweep is still going. */
export function renderStatusBanner(r: Rankings, p: ReportProvenance | undefined, running: boolean): string {
  const isRunning = running || p?.state === "running";
  const found = sweepShortfall(r, p);
  // while the sweep runs, unranked cells may simply not be done: only quarantined ones are lost
  const s = isRunning ? { ...found, missing: found.missingCells.length } : found;
  const failed = s.state === "failed" || s.state === "cancelled";
  if (isRunning && s.quarantined.length === 0)
    return `<div class="banner" id="sweep-status" data-state="running"><p>The sweep has not finished: these rankings are partial and will change.</p></div>`;
  if (!failed && s.missing === 0 && s.quarantined.length === 0) return "";
  const head = isRunning
    ? "<b>The sweep has not finished and has already lost work</b>: these rankings are partial."
    : `<b>This sweep ${s.state === "cancelled" ? "was cancelled" : failed ? "failed" : "is incomplete"}</b>: these rankings lack part of what it planned.`;
  const counts: string[] = [];
  if (s.missing > 0) {
    const of = s.planned === undefined || isRunning ? "" : ` of ${s.planned} planned`;
    const listed =
      s.missingCells.length === 0
        ? ""
        : ` (${s.missingCells.map((c) => `<span class="id">${esc(c)}</span>`).join(", ")}${s.missing > s.missingCells.length ? `, and ${plural(s.missing - s.missingCells.length, "cell")} that never ran` : ""})`;
    counts.push(
      `${plural(s.missing, "cell")}${of} ${s.missing === 1 ? "is" : "are"} missing from the rankings${listed}`,
    );
  }
  if (s.incompleteCells.length > 0)
    counts.push(
      `${plural(s.incompleteCells.length, "cell")} ${s.incompleteCells.length === 1 ? "lacks" : "lack"} a later stage (${s.incompleteCells.map((c) => `<span class="id">${esc(c)}</span>`).join(", ")})`,
    );
  const body = counts.length > 0 ? `<p>${counts.join("; ")}.</p>` : "";
  const table = s.quarantined.length === 0 ? "" : quarantineTable(s);
  return `<div class="banner failed" id="sweep-status" role="alert" data-state="${esc(isRunning ? "running" : (s.state ?? "incomplete"))}" data-missing="${s.missing}" data-quarantined="${s.quarantined.length}"><p>${head}</p>${body}${table}</div>`;
}

/**
 * The quarantined shards, one row per cell, stage and reason (a model no worker can load fails
 * every shard of its cells the same way), each row's shard ids folded under their count.
 */
function quarantineTable(s: SweepShortfall): string {
  const groups = new Map<string, { q: QuarantinedShardInfo; ids: string[] }>();
  for (const q of s.quarantined) {
    const key = `${q.cell}\u0000${q.stage}\u0000${q.reason}`;
    const g = groups.get(key) ?? { q, ids: [] };
    g.ids.push(q.shardId);
    groups.set(key, g);
  }
  const rows = [...groups.values()].map(
    ({ q, ids }) =>
      `<tr data-shards="${ids.length}"><td class="l id cell">${esc(q.cell)}</td><td class="l">${esc(q.stage)}</td>` +
      `<td class="l">${s.missingCells.includes(q.cell) ? "cell missing" : "cell incomplete"}</td>` +
      `<td class="l"><details><summary>${plural(ids.length, "shard")}</summary>${ids.map((id) => `<code class="id">${esc(id)}</code>`).join(" ")}</details></td>` +
      `<td class="l reason">${esc(q.reason)}</td></tr>`,
  );
  return `<table class="numbers small quarantine"><caption>${plural(s.quarantined.length, "shard")} quarantined: each failed every delivery, so its cell's stage has no result.</caption><thead><tr><th class="l">cell</th><th class="l">stage</th><th class="l">effect</th><th class="l">quarantined</th><th class="l">reason</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}
