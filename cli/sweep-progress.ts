/**
 * Live progress of a whole sweep (`cna run`, `cna demo`, `cna watch`): per stage done/total
 * shards, cases done and cases per second, ETA, workers active, failures and quarantines. On a
 * TTY one line is redrawn in place; otherwise (CI, logs) a plain line at most every few seconds,
 * and one whenever a count that matters changes state (a stage completes, a shard is quarantined).
 */
import type { SweepStatus } from "../coordinator/index.ts";
import type { ProgressSink } from "./progress.ts";

export interface SweepProgressFacts {
  status: SweepStatus;
  /** cases per second over the recent past (null before there is a rate) */
  casesPerSecond: number | null;
  etaSeconds: number | null;
  /** shards being worked on now, where known */
  workersActive?: number;
  failures?: number;
}

export function sweepProgressLine(f: SweepProgressFacts): string {
  const s = f.status;
  const stages = s.stages.map((st) => `${st.stage} ${st.stored}/${st.total}`).join(" · ");
  const parts = [
    `[${s.state.toLowerCase()}] cells ${s.cellsDone}/${s.cells}`, stages, `${s.casesDone} cases`,
    f.casesPerSecond === null ? "" : `${f.casesPerSecond.toFixed(0)} cases/s`,
    f.etaSeconds === null || s.state !== "RUNNING" ? "" : `ETA ${formatDuration(f.etaSeconds)}`,
    f.workersActive === undefined ? "" : `${f.workersActive} busy`,
    f.failures ? `${f.failures} failures` : "",
    s.redeliveries ? `${s.redeliveries} redeliveries` : "",
    s.quarantined.length ? `${s.quarantined.length} QUARANTINED` : "",
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

/** Rate and ETA from (time, cases, shards) samples of the last minute. */
export class RateTracker {
  private readonly samples: Array<{ t: number; cases: number; shards: number }> = [];

  constructor(private readonly now: () => number = Date.now) {}

  add(s: SweepStatus): { casesPerSecond: number | null; etaSeconds: number | null } {
    const t = this.now();
    this.samples.push({ t, cases: s.casesDone, shards: s.shardsStored });
    while (this.samples.length > 2 && t - this.samples[0]!.t > 60_000) this.samples.shift();
    const first = this.samples[0]!;
    const seconds = (t - first.t) / 1000;
    if (seconds <= 0) return { casesPerSecond: null, etaSeconds: null };
    const shardRate = (s.shardsStored - first.shards) / seconds;
    return {
      casesPerSecond: (s.casesDone - first.cases) / seconds,
      etaSeconds: shardRate > 0 ? (s.shardsExpected - s.shardsStored) / shardRate : null,
    };
  }
}

export class SweepProgress {
  private readonly tty: boolean;
  private lastPlain = -Infinity;
  private lastKey = "";
  private drawn = false;

  constructor(private readonly sink: ProgressSink, private readonly plainIntervalMs = 5000, private readonly now: () => number = Date.now) {
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
    const key = `${f.status.state}|${f.status.stages.map((s) => s.stored === s.total && s.total > 0).join()}|${f.status.quarantined.length}`;
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
