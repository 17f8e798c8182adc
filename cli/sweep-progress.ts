/**
 * Live progress of a whole sweep (`cna run`, `cna demo`, `cna watch`): per stage done/total
 * shards, cases done and cases per second, ETA, workers active, failures and quarantines. On a
 * TTY one line is redrawn in place; otherwise (CI, logs) a plain line at most every few seconds,
 * and one whenever a count that matters changes state (a stage completes, a shard is quarantined).
 */
import { quarantinedCount } from "../coordinator/index.ts";
import type { SweepStatus } from "../coordinator/index.ts";
import type { ProgressSink } from "./progress.ts";

export interface SweepProgressFacts {
  status: SweepStatus;
  /** cases per second over the recent past (null before there is a rate) */
  casesPerSecond: number | null;
  etaSeconds: number | null;
  /** workers running a shard now, and of how many, where known */
  workersActive?: number;
  workers?: number;
  /** shards being worked on now (a worker may hold several), where known */
  shardsInFlight?: number;
  failures?: number;
}

export function sweepProgressLine(f: SweepProgressFacts): string {
  const s = f.status;
  const stages = s.stages.map((st) => `${st.stage} ${st.stored}/${st.expected}`).join(" · ");
  const parts = [
    `[${s.state.toLowerCase()}] cells ${s.cellsDone}/${s.cells}`,
    stages,
    `${s.casesDone} cases`,
    f.casesPerSecond === null ? "" : `${f.casesPerSecond.toFixed(0)} cases/s`,
    f.etaSeconds === null || s.state !== "RUNNING" ? "" : `ETA ${formatDuration(f.etaSeconds)}`,
    f.workersActive === undefined
      ? ""
      : `${f.workersActive}${f.workers === undefined ? "" : `/${f.workers}`} workers busy`,
    f.shardsInFlight === undefined ? "" : `${f.shardsInFlight} shards in flight`,
    f.failures ? `${f.failures} failures` : "",
    s.redeliveries ? `${s.redeliveries} redeliveries` : "",
    quarantinedCount(s) ? `${quarantinedCount(s)} QUARANTINED` : "",
    s.nondeterministic ? `${s.nondeterministic} NON-DETERMINISTIC` : "",
  ];
  return parts.filter(Boolean).join(" · ");
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * Rate and ETA from samples of the last minute. Stages cost differently per shard (a CNA shard
 * runs two forwards and scores every neuron; a head-ablation shard one sweep), so the ETA adds
 * each stage's remaining shards — planned or not yet, from the cells' sizes — at that stage's own
 * recent rate; a stage not seen running yet is estimated at the slowest rate seen so far.
 */
export class RateTracker {
  private readonly samples: Array<{ t: number; cases: number; stored: Map<string, number> }> = [];

  constructor(private readonly now: () => number = Date.now) {}

  add(s: SweepStatus): { casesPerSecond: number | null; etaSeconds: number | null } {
    const t = this.now();
    this.samples.push({ t, cases: s.casesDone, stored: new Map(s.stages.map((st) => [st.stage, st.stored])) });
    while (this.samples.length > 2 && t - this.samples[0]!.t > 60_000) this.samples.shift();
    const first = this.samples[0]!;
    const seconds = (t - first.t) / 1000;
    if (seconds <= 0) return { casesPerSecond: null, etaSeconds: null };
    const rates = s.stages.map((st) => (st.stored - (first.stored.get(st.stage) ?? 0)) / seconds);
    const known = rates.filter((r) => r > 0);
    if (known.length === 0) return { casesPerSecond: (s.casesDone - first.cases) / seconds, etaSeconds: null };
    const slowest = Math.min(...known);
    const etaSeconds = s.stages.reduce(
      (sum, st, i) =>
        sum + Math.max(0, st.expected - st.stored - st.quarantined) / (rates[i]! > 0 ? rates[i]! : slowest),
      0,
    );
    return { casesPerSecond: (s.casesDone - first.cases) / seconds, etaSeconds };
  }
}

export class SweepProgress {
  private readonly tty: boolean;
  private lastPlain = -Infinity;
  private lastKey = "";
  private drawn = false;

  constructor(
    private readonly sink: ProgressSink,
    private readonly plainIntervalMs = 5000,
    private readonly now: () => number = Date.now,
  ) {
    this.tty = sink.isTTY === true;
  }

  update(f: SweepProgressFacts): void {
    const line = sweepProgressLine(f);
    if (this.tty) {
      this.sink.write(`\r${line}\x1b[K`);
      this.drawn = true;
      return;
    }
    // A stage finishing or a shard quarantined is worth a line at once; the rest is periodic.
    const key = `${f.status.state}|${f.status.stages.map((s) => s.stored === s.total && s.total > 0).join()}|${quarantinedCount(f.status)}`;
    const t = this.now();
    if (key === this.lastKey && t - this.lastPlain < this.plainIntervalMs) return;
    this.lastKey = key;
    this.lastPlain = t;
    this.sink.write(`${line}\n`);
  }

  /** Ends the redrawn line so later output starts on a fresh one. */
  done(): void {
    if (this.drawn) this.sink.write("\n");
    this.drawn = false;
  }
}
