/**
 * Live progress of a whole sweep (`cna run`, `cna demo`, `cna watch`): per stage done/total
 * shards, cases done and cases per second, ETA, workers active, failures and quarantines. On a
 * TTY one line is redrawn in place, fitted to the terminal's width (the least telling parts are
 * dropped first); otherwise (CI, logs) a plain line at most every few seconds,
 * and one whenever a count that matters changes state (a stage completes, a shard is quarantined).
 */
import { quarantinedCount } from "../coordinator/index.ts";
import type { SweepStatus } from "../coordinator/index.ts";
import { fitParts, joinParts, lineWidth } from "./progress.ts";
import type { LinePart, ProgressSink } from "./progress.ts";

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

/**
 * A stage's shards, stored of expected. The expected count comes from the plan (one shard per
 * pair range of every cell), so it is right from the first line; it is marked "~" while the
 * stage is not yet planned in every cell, since a cell that fails before never plans it.
 */
export function stageCount(stored: number, total: number, expected: number): string {
  return `${stored}/${total < expected ? "~" : ""}${expected}`;
}

/** How soon a stage's count is dropped on a narrow terminal: the running stage last. */
function stageDrop(st: SweepStatus["stages"][number]): number {
  if (st.total > 0 && st.stored + st.quarantined < st.expected) return 1;
  return st.total === 0 ? 3 : 4;
}

export function sweepProgressParts(f: SweepProgressFacts): LinePart[] {
  const s = f.status;
  return [
    { text: `[${s.state.toLowerCase()}] cells ${s.cellsDone}/${s.cells}`, drop: 0 },
    ...s.stages.map((st) => ({
      text: `${st.stage} ${stageCount(st.stored, st.total, st.expected)}`,
      drop: stageDrop(st),
    })),
    { text: `${s.casesDone} cases`, drop: 5 },
    { text: f.casesPerSecond === null ? "" : `${f.casesPerSecond.toFixed(0)} cases/s`, drop: 2 },
    { text: f.etaSeconds === null || s.state !== "RUNNING" ? "" : `ETA ${formatDuration(f.etaSeconds)}`, drop: 1 },
    {
      text:
        f.workersActive === undefined
          ? ""
          : `${f.workersActive}${f.workers === undefined ? "" : `/${f.workers}`} workers busy`,
      drop: 3,
    },
    { text: f.shardsInFlight === undefined ? "" : `${f.shardsInFlight} shards in flight`, drop: 5 },
    { text: f.failures ? `${f.failures} failures` : "", drop: 2 },
    { text: s.redeliveries ? `${s.redeliveries} redeliveries` : "", drop: 3 },
    { text: quarantinedCount(s) ? `${quarantinedCount(s)} QUARANTINED` : "", drop: 1 },
    { text: s.nondeterministic ? `${s.nondeterministic} NON-DETERMINISTIC` : "", drop: 1 },
  ];
}

/** The whole line, as logs get it. */
export const sweepProgressLine = (f: SweepProgressFacts): string => joinParts(sweepProgressParts(f));

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
    if (this.tty) {
      this.sink.write(`\r${fitParts(sweepProgressParts(f), lineWidth(this.sink))}\x1b[K`);
      this.drawn = true;
      return;
    }
    // A stage finishing or a shard quarantined is worth a line at once; the rest is periodic.
    const key = `${f.status.state}|${f.status.stages.map((s) => s.stored === s.total && s.total > 0).join()}|${quarantinedCount(f.status)}`;
    const t = this.now();
    if (key === this.lastKey && t - this.lastPlain < this.plainIntervalMs) return;
    this.lastKey = key;
    this.lastPlain = t;
    this.sink.write(`${sweepProgressLine(f)}\n`);
  }

  /** Erases the redrawn line so a message can take its place; the next update draws it again. */
  clear(): void {
    if (this.drawn) this.sink.write("\r\x1b[K");
    this.drawn = false;
  }

  /** Ends the redrawn line so later output starts on a fresh one. */
  done(): void {
    if (this.drawn) this.sink.write("\n");
    this.drawn = false;
  }
}
