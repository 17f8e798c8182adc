/**
 * What the Coordinator keeps per sweep it runs, and the view of it the API shows: status plus
 * the rates and the ETA from the entry's recent (time, shards stored, cases done) samples.
 */
import type { SweepView } from "./backend.ts";
import { TERMINAL_STATES } from "./backend.ts";
import type { SweepStore } from "./store.ts";
import type { SweepRun } from "./sweep.ts";

export interface Entry {
  run: SweepRun;
  store: SweepStore;
  name: string;
  createdAt: Date;
  updatedAt: Date;
  /** (time, shards stored, cases done) samples for the rates and the ETA */
  samples: Array<[number, number, number]>;
  watchers: Set<(v: SweepView) => void>;
  /** watchers are told at the end of this turn of the event loop (one view for every change in it) */
  notifying: boolean;
  /** the final rankings.json text, once the sweep has finished (written by finalRankings()) */
  final?: Promise<string>;
}

/**
 * Quarantined shards a view lists: a view goes to every watcher on every change, so it must not
 * grow with the sweep; the stages count every quarantined shard, and the journal names them all.
 */
export const VIEW_QUARANTINED_LISTED = 20;

/** The sweep as the API shows it; rates over the samples kept (about the last minute). */
export function viewOf(e: Entry): SweepView {
  const s = e.run.status(VIEW_QUARANTINED_LISTED);
  const [t0, n0, c0] = e.samples[0] ?? [Date.now(), 0, 0];
  const seconds = (Date.now() - t0) / 1000;
  const shardsPerSecond = seconds > 0 ? (s.shardsStored - n0) / seconds : 0;
  const casesPerSecond = seconds > 0 ? (s.casesDone - c0) / seconds : 0;
  const remaining = s.shardsExpected - s.shardsStored;
  const etaSeconds = TERMINAL_STATES.has(s.state) ? 0 : shardsPerSecond > 0 ? remaining / shardsPerSecond : null;
  return { ...s, name: e.name, createdAt: e.createdAt, updatedAt: e.updatedAt, etaSeconds, casesPerSecond };
}
