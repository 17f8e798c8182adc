/**
 * `cna watch`: a sweep's progress as the coordinator streams it (its Sweep messages). On a TTY
 * one line is redrawn, fitted to the terminal's width; in logs, a line per state or stage change,
 * else at most one per interval. The coordinator sends an update only when something changes, so
 * a sweep no worker serves would look merely slow: after a few seconds with no shard stored the
 * line says it is waiting for workers.
 */
import { quarantinedCount } from "../coordinator/index.ts";
import { SweepState } from "../proto/index.ts";
import type { Sweep } from "../proto/index.ts";
import { fitParts, joinParts, lineWidth } from "./progress.ts";
import type { LinePart, ProgressSink } from "./progress.ts";
import { formatDuration, stageCount } from "./sweep-progress.ts";

export const STATE_NAMES: Record<number, string> = {
  [SweepState.SWEEP_STATE_RUNNING]: "running",
  [SweepState.SWEEP_STATE_SUCCEEDED]: "succeeded",
  [SweepState.SWEEP_STATE_FAILED]: "failed",
  [SweepState.SWEEP_STATE_CANCELLED]: "cancelled",
};
export const STAGE_NAMES = ["?", "head-ablation", "attribution", "cna", "verify", "top-tokens"];

/** Seconds without a shard stored before a running sweep is said to wait for workers. */
export const STALL_AFTER_MS = 10_000;

/** The watch line's parts; `note` (the stall notice) comes right after the cells. */
export function sweepParts(s: Sweep, note: string | null = null): LinePart[] {
  const running = (p: Sweep["stages"][number]) => p.total > 0 && p.stored + p.quarantined < (p.expected || p.total);
  return [
    // the id is on the command line already: on a narrow terminal it goes before the counts do
    { text: s.id, drop: 4, sep: " " },
    { text: `[${STATE_NAMES[s.state] ?? "?"}] cells ${s.cellsDone}/${s.cells}`, drop: 0 },
    { text: note ?? "", drop: 0 },
    ...s.stages.map((p) => ({
      // a coordinator that does not send expected counts (0) leaves the planned total
      text: `${STAGE_NAMES[p.stage] ?? "?"} ${stageCount(p.stored, p.total, p.expected || p.total)}${p.quarantined ? ` (${p.quarantined} quarantined)` : ""}`,
      drop: running(p) || p.quarantined ? 1 : 3,
    })),
    { text: `${s.casesPerSecond.toFixed(1)} cases/s`, drop: 2 },
    { text: s.etaSeconds === undefined ? "" : `ETA ${Math.round(s.etaSeconds)} s`, drop: 1 },
    { text: s.redeliveries ? `${s.redeliveries} redeliveries` : "", drop: 3 },
    { text: s.duplicates ? `${s.duplicates} duplicates` : "", drop: 4 },
    { text: s.nondeterministic ? `${s.nondeterministic} NON-DETERMINISTIC` : "", drop: 1 },
  ];
}

/** One line for a sweep, as `cna submit` and the watch's log lines print it: "ID [state] cells …". */
export const sweepLine = (s: Sweep, note: string | null = null): string => joinParts(sweepParts(s, note));

/**
 * Time since a running sweep last stored a shard. The coordinator does not know which workers
 * are connected (they pull from the queue), so a sweep that stores nothing is the sign it has.
 */
export class StallWatch {
  private stored = -1;
  private since = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly afterMs = STALL_AFTER_MS,
  ) {}

  observe(s: Sweep): void {
    const stored = s.stages.reduce((n, p) => n + p.stored + p.quarantined, 0);
    if (stored !== this.stored) {
      this.stored = stored;
      this.since = this.now();
    }
  }

  /** "waiting for workers (no shard stored in 12s)" once a running sweep has stored none for a while. */
  note(s: Sweep | undefined): string | null {
    if (!s || s.state !== SweepState.SWEEP_STATE_RUNNING || this.stored < 0) return null;
    const idle = this.now() - this.since;
    if (idle < this.afterMs) return null;
    return `waiting for workers (no shard stored in ${formatDuration(idle / 1000)})`;
  }
}

export interface WatchDisplayOptions {
  now?: () => number;
  /** minimum time between plain lines that say nothing new (default 5000) */
  plainIntervalMs?: number;
  stallAfterMs?: number;
}

export class WatchDisplay {
  private readonly now: () => number;
  private readonly plainIntervalMs: number;
  private readonly stall: StallWatch;
  private latest: Sweep | undefined;
  private lastKey = "";
  private lastAt = -Infinity;

  constructor(
    private readonly sink: ProgressSink,
    o: WatchDisplayOptions = {},
  ) {
    this.now = o.now ?? Date.now;
    this.plainIntervalMs = o.plainIntervalMs ?? 5000;
    this.stall = new StallWatch(this.now, o.stallAfterMs ?? STALL_AFTER_MS);
  }

  /** The last sweep the stream sent. */
  get last(): Sweep | undefined {
    return this.latest;
  }

  /** A new Sweep from the stream. */
  update(s: Sweep): void {
    this.latest = s;
    this.stall.observe(s);
    this.draw(false);
  }

  /** Called every second or so: brings the stall notice up when nothing arrives. */
  tick(): void {
    if (this.latest) this.draw(true);
  }

  private draw(tick: boolean): void {
    const s = this.latest!;
    const note = this.stall.note(s);
    if (this.sink.isTTY) {
      this.sink.write(`\r${fitParts(sweepParts(s, note), lineWidth(this.sink))}\x1b[K`);
      return;
    }
    // a state change, a stage completing, a quarantine or the stall starting is worth a line at once
    const key = `${s.state}|${s.stages.map((p) => p.stored === p.total).join()}|${quarantinedCount(s)}|${note !== null}`;
    const t = this.now();
    if (key === this.lastKey && (tick || t - this.lastAt < this.plainIntervalMs)) return;
    this.lastKey = key;
    this.lastAt = t;
    this.sink.write(`${sweepLine(s, note)}\n`);
  }

  /** Ends the redrawn line so what follows starts on a fresh one. */
  done(): void {
    if (this.sink.isTTY && this.latest) this.sink.write("\n");
  }
}
