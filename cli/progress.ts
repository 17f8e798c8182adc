/**
 * Progress of a long analysis on stderr. On a terminal one line is redrawn in place; in a log
 * file (CI, nohup, kubectl logs) redrawing would leave thousands of lines, so it prints a plain
 * line at most every couple of seconds, plus one when each stage ends so the log shows every
 * stage completed. The redrawn line is cut to the terminal's width: a wrapped one cannot be
 * redrawn in place.
 */

/** Where progress goes: stderr, or a fake in tests. */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  /** the terminal's width, where it is one (process.stderr.columns) */
  columns?: number;
}

/** Width assumed for a TTY that does not say its own. */
export const DEFAULT_COLUMNS = 80;

/**
 * Columns a redrawn line may fill: one less than the terminal's, because a line that reaches the
 * last column leaves the cursor waiting to wrap, and the next redraw then lands a line lower.
 */
export const lineWidth = (sink: ProgressSink): number =>
  Math.max(10, (sink.columns && sink.columns > 0 ? sink.columns : DEFAULT_COLUMNS) - 1);

/** Part of a status line; on a narrow terminal the parts with the largest `drop` go first. */
export interface LinePart {
  text: string;
  /** 0: kept to the last (then the line is cut); higher: dropped sooner */
  drop: number;
  /** what follows this part when another does (default {@link PART_SEPARATOR}) */
  sep?: string;
}

export const PART_SEPARATOR = " · ";

/** The line with every part, for logs. */
export const joinParts = (parts: readonly LinePart[]): string =>
  parts
    .filter((p) => p.text !== "")
    .map((p, i, kept) => (i < kept.length - 1 ? p.text + (p.sep ?? PART_SEPARATOR) : p.text))
    .join("");

/**
 * The parts that fit in `width` columns, least droppable kept, in their order; a line that still
 * does not fit is cut with "…". A wrapped line is never redrawn in place, so the terminal would
 * keep a stale copy of it for every update.
 */
export function fitParts(parts: readonly LinePart[], width: number): string {
  const kept = parts.filter((p) => p.text !== "");
  let line = joinParts(kept);
  while (line.length > width) {
    const worst = Math.max(...kept.map((p) => p.drop));
    if (worst <= 0) break;
    kept.splice(kept.map((p) => p.drop).lastIndexOf(worst), 1);
    line = joinParts(kept);
  }
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
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
      this.sink.write(`\r${fitParts([{ text: line, drop: 0 }], lineWidth(this.sink))}\x1b[K`);
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
