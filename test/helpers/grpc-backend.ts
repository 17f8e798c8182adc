/**
 * An in-memory SweepBackend for the gRPC edge's tests: records every call, stores reports by
 * shard id like the real store (first copy wins, later copies compared by digest), and lets a
 * test move a sweep along (`update`) to drive WatchSweep.
 */
import { createHash } from "node:crypto";
import { CnaError, SpecError } from "../../core/index.ts";
import type { ShardFailure, ShardReport } from "../../core/index.ts";
import { SweepNotFoundError } from "../../coordinator/index.ts";
import type { ShardOutcome, SweepBackend, SweepView } from "../../coordinator/index.ts";

export class FakeSweepBackend implements SweepBackend {
  /** method names, in call order */
  readonly calls: string[] = [];
  readonly reports: ShardReport[] = [];
  readonly failures: ShardFailure[] = [];
  /** when set, the next reportShard throws it */
  reportError: Error | null = null;
  private readonly sweeps = new Map<string, SweepView>();
  private readonly digests = new Map<string, string>();
  private readonly watchers = new Map<string, Set<(v: SweepView) => void>>();
  private next = 1;

  async submit(yaml: string, source: string): Promise<SweepView> {
    this.calls.push("submit");
    const name = /^name:\s*(\S+)/m.exec(yaml)?.[1];
    if (name === undefined) throw new SpecError("name", `${source}: the sweep file has no name`);
    const at = new Date(Date.UTC(2025, 0, 1, 0, 0, this.next));
    const view: SweepView = {
      sweepId: `sw-${this.next++}`,
      name,
      state: "RUNNING",
      cells: 2,
      cellsDone: 0,
      cellsFailed: 0,
      stages: [
        { stage: "head-ablation", total: 4, expected: 4, stored: 0, quarantined: 0 },
        { stage: "cna", total: 0, expected: 4, stored: 0, quarantined: 0 },
      ],
      shardsExpected: 8,
      shardsStored: 0,
      casesDone: 0,
      duplicates: 0,
      nondeterministic: 0,
      redeliveries: 0,
      quarantined: [],
      createdAt: at,
      updatedAt: at,
      etaSeconds: null,
      casesPerSecond: 0,
    };
    this.sweeps.set(view.sweepId, view);
    return view;
  }

  get(id: string): SweepView {
    this.calls.push("get");
    return this.find(id);
  }

  list(): SweepView[] {
    this.calls.push("list");
    return [...this.sweeps.values()].reverse();
  }

  watch(id: string, onUpdate: (v: SweepView) => void): () => void {
    this.calls.push("watch");
    const view = this.find(id);
    const set = this.watchers.get(id) ?? new Set();
    this.watchers.set(id, set);
    set.add(onUpdate);
    onUpdate(view);
    return () => set.delete(onUpdate);
  }

  async cancel(id: string): Promise<SweepView> {
    this.calls.push("cancel");
    return this.update(id, { state: "CANCELLED" });
  }

  async rerun(id: string): Promise<SweepView> {
    this.calls.push("rerun");
    return this.update(id, { state: "RUNNING", quarantined: [] });
  }

  rankings(id: string): { json: string; final: boolean } {
    this.calls.push("rankings");
    const v = this.find(id);
    return { json: JSON.stringify({ schema: "cna-sweep/rankings@1", cells: [] }), final: v.state !== "RUNNING" };
  }

  async reportShard(r: ShardReport): Promise<ShardOutcome> {
    this.calls.push("reportShard");
    if (this.reportError !== null) {
      const err = this.reportError;
      this.reportError = null;
      throw err;
    }
    this.find(r.sweepId);
    this.reports.push(r);
    const digest = createHash("sha256").update(r.result).digest("hex");
    const stored = this.digests.get(r.shardId);
    if (stored === undefined) {
      this.digests.set(r.shardId, digest);
      return "stored";
    }
    return stored === digest ? "duplicate" : "duplicate-mismatch";
  }

  async reportFailure(f: ShardFailure): Promise<void> {
    this.calls.push("reportFailure");
    this.failures.push(f);
  }

  /** Changes a sweep and tells its watchers. */
  update(id: string, patch: Partial<SweepView>): SweepView {
    const view: SweepView = { ...this.find(id), ...patch, updatedAt: new Date() };
    this.sweeps.set(id, view);
    for (const w of [...(this.watchers.get(id) ?? [])]) w(view);
    return view;
  }

  watcherCount(id: string): number {
    return this.watchers.get(id)?.size ?? 0;
  }

  private find(id: string): SweepView {
    const v = this.sweeps.get(id);
    if (!v) throw new SweepNotFoundError(id);
    return v;
  }
}

/** A retryable backend failure, as the store raises when the disk hiccups. */
export const storeHiccup = (): CnaError => new CnaError("disk full", { code: "STORE_FAILED", retryable: true });
