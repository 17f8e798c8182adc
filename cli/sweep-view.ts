/**
 * How the remote commands show a coordinator's Sweep message: one status line (`submit`,
 * `watch`, `cancel`, `rerun`), a table row (`list`), and a JSON object (`--json`), whose fields
 * are the stable, machine-readable form:
 *
 *   { "id": "zoo-quick-3f2a9c1b7e", "name": "zoo-quick", "state": "running",
 *     "done": 12, "total": 40, "cells": 4, "cellsDone": 1, "cellsFailed": 0,
 *     "stages": [{ "stage": "head-ablation", "stored": 8, "total": 8, "expected": 8, "quarantined": 0 }, ...],
 *     "quarantined": [{ "shardId": "...", "cell": "...", "stage": "cna", "reason": "..." }],
 *     "duplicates": 0, "nondeterministic": 0, "redeliveries": 0,
 *     "casesPerSecond": 310.5, "etaSeconds": 42, "createdAt": "2026-...Z", "updatedAt": "2026-...Z" }
 */
import { quarantinedCount } from "../coordinator/index.ts";
import type { Sweep } from "../proto/index.ts";

export { STAGE_NAMES, STATE_NAMES, sweepLine } from "./watch-progress.ts";
import { STAGE_NAMES, STATE_NAMES } from "./watch-progress.ts";

/** Shards stored and shards the sweep will have, over every stage (a later stage counts before it is planned). */
export function progressOf(s: Sweep): { done: number; total: number } {
  return {
    done: s.stages.reduce((n, p) => n + p.stored, 0),
    total: s.stages.reduce((n, p) => n + (p.expected || p.total), 0),
  };
}

/** The `--json` form of a sweep (see the module doc); `existing` only where SubmitSweep said so. */
export function sweepJson(s: Sweep): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    state: STATE_NAMES[s.state] ?? "unknown",
    ...progressOf(s),
    cells: s.cells,
    cellsDone: s.cellsDone,
    cellsFailed: s.cellsFailed,
    stages: s.stages.map((p) => ({
      stage: STAGE_NAMES[p.stage] ?? "unknown",
      stored: p.stored,
      total: p.total,
      expected: p.expected,
      quarantined: p.quarantined,
    })),
    quarantined: s.quarantined.map((q) => ({
      shardId: q.shardId,
      cell: q.cell,
      stage: STAGE_NAMES[q.stage] ?? "unknown",
      reason: q.reason,
    })),
    duplicates: s.duplicates,
    nondeterministic: s.nondeterministic,
    redeliveries: s.redeliveries,
    casesPerSecond: s.casesPerSecond,
    etaSeconds: s.etaSeconds ?? null,
    createdAt: s.createdAt?.toISOString() ?? null,
    updatedAt: s.updatedAt?.toISOString() ?? null,
    ...(s.existing ? { existing: true } : {}),
  };
}

/** "12s", "5m", "3h", "2d": how long ago `at` was. */
export function age(at: Date | undefined, now: number): string {
  if (!at) return "?";
  const s = Math.max(0, Math.round((now - at.getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 120 * 60) return `${Math.round(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** `cna list`'s table, newest first as the coordinator gives them. */
export function sweepTable(sweeps: readonly Sweep[], now: number): string {
  const rows = [
    ["ID", "NAME", "STATE", "PROGRESS", "QUARANTINED", "AGE"],
    ...sweeps.map((s) => {
      const p = progressOf(s);
      return [
        s.id,
        s.name,
        STATE_NAMES[s.state] ?? "?",
        `${p.done}/${p.total}`,
        String(quarantinedCount(s)),
        age(s.createdAt, now),
      ];
    }),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}
