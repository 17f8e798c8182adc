/**
 * Progress of a long analysis on stderr. On a terminal one line is redrawn in place; in a log
 * file (CI, nohup, kubectl logs) redrawing would leave thousands of lines, so it prints a plain
 * line at most every couple of seconds, plus one when each stage ends so the log shows every
 * stage completed.
 */

/** Where progress goes: stderr, or a fake in tests. */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** minimum time between plain lines when not a TTY (default 2000) */
  logIntervalMs?: number;
  /** minimum time between redraws on a TTY, so fast stages do not flood the terminal (default 100) */
  redrawIntervalMs?: number;
  now?: () => number;
}

/** The unit each analysis reports its progress in (worker/analyses' `onProgress` totals). */
const STAGE_UNITS: Readonly<Record<string, string>> = {
  "head-ablation": "cases·heads",
  attribution: "cases",
  cna: "cases",
  verify: "cases·passes",
};

export function progressLine(stage: string, done: number, total: number): string {
  const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
  return `${stage} ${done}/${total} ${STAGE_UNITS[stage] ?? "steps"} ${pct}%`;
}

export class ProgressDisplay {
  private readonly tty: boolean;
  private readonly logIntervalMs: number;
  private readonly redrawIntervalMs: number;
  private readonly now: () => number;
  private lastWriteMs = -Infinity;
  /** a TTY line is on screen and must be cleared before other output */
  private drawn = false;

  constructor(
    private readonly sink: ProgressSink,
    options: ProgressOptions = {},
  ) {
    this.tty = sink.isTTY === true;
    this.logIntervalMs = options.logIntervalMs ?? 2000;
    this.redrawIntervalMs = options.redrawIntervalMs ?? 100;
    this.now = options.now ?? Date.now;
  }

  update(stage: string, done: number, total: number): void {
    const stageEnd = done >= total;
    const t = this.now();
    const line = progressLine(stage, done, total);
    if (this.tty) {
      if (!stageEnd && t - this.lastWriteMs < this.redrawIntervalMs) return;
      this.sink.write(`\r${line}\x1b[K`);
      this.drawn = true;
    } else {
      if (!stageEnd && t - this.lastWriteMs < this.logIntervalMs) return;
      this.sink.write(`${line}\n`);
    }
    this.lastWriteMs = t;
  }

  /** Clears the redrawn line so what follows (the summary, an error) starts on a clean line. */
  clear(): void {
    if (this.drawn) this.sink.write("\r\x1b[K");
    this.drawn = false;
  }
}
