/**
 * Which workers the coordinator hears from. Workers pull shards from JetStream, which the
 * coordinator does not watch; what it does see is each worker's ReportShard and ReportFailure,
 * named by the worker's id. So a worker has **joined** at its first report (or its first after
 * going quiet), and has **left** once it has reported nothing for `quietMs` — a drained or
 * stopped worker, or one that died, and also one running a shard longer than that, which joins
 * again with its next report. The check runs on the caller's timer with the caller's clock.
 */
export interface WorkerPresenceOptions {
  /** a worker silent this long has left (ms) */
  quietMs: number;
  /** ms since the epoch (default Date.now) */
  now?: () => number;
  onJoined: (worker: string) => void;
  onLeft: (worker: string, quietMs: number) => void;
}

export class WorkerPresence {
  /** worker id → when it last reported (ms) */
  private readonly lastSeen = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly o: WorkerPresenceOptions) {
    this.now = o.now ?? Date.now;
  }

  /** A report from `worker`. */
  seen(worker: string): void {
    if (worker === "") return;
    const known = this.lastSeen.has(worker);
    this.lastSeen.set(worker, this.now());
    if (!known) this.o.onJoined(worker);
  }

  /** Tells of every worker quiet for `quietMs` or more, and forgets it. */
  check(): void {
    const now = this.now();
    for (const [worker, at] of this.lastSeen) {
      if (now - at < this.o.quietMs) continue;
      this.lastSeen.delete(worker);
      this.o.onLeft(worker, now - at);
    }
  }

  /** Worker ids heard from within `quietMs`, sorted. */
  present(): string[] {
    return [...this.lastSeen.keys()].sort();
  }
}
