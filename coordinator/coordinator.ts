/**
 * The coordinator: every sweep submitted to it, each with its own store under the data
 * directory, sharing one shard queue. It is the `SweepBackend` the gRPC server calls.
 *
 *   <data>/sweeps/<sweep id>/journal.jsonl, results/   (see store.ts)
 *   <data>/sweeps/<sweep id>/rankings.json            once the sweep has finished
 *
 * On start it replays every sweep directory: finished sweeps are loaded for their rankings;
 * unfinished ones are re-planned and their missing shards republished (the queue deduplicates).
 * A sweep's id is its name plus a hash of the submitted text and of this data directory's
 * instance id: submitting the same file twice to one coordinator is the same sweep, while
 * another coordinator (another data directory) on the same NATS stream never mistakes its
 * shards for already published ones.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  SpecError,
  checkHeadFits,
  parseSweep,
  resolveSweepLimits,
  shardIdOfMessage,
  silentLogger,
} from "../core/index.ts";
import type {
  Logger,
  ModelDigest,
  Rankings,
  ShardFailure,
  ShardQueue,
  ShardReport,
  ShardTask,
  SweepLimits,
} from "../core/index.ts";
import type { ShardOutcome, SweepBackend, SweepView } from "./backend.ts";
import { TERMINAL_STATES } from "./backend.ts";
import { NothingToRerunError, SweepCancelledError, SweepNotFoundError } from "./errors.ts";
import { checkCellLimit, checkShardLimit, planSpecOf, plannedShardCount } from "./planner.ts";
import type { PlanSpec } from "./planner.ts";
import { removeDurably, writeDurably } from "./blob-writer.ts";
import { openDataDir } from "./data-dir.ts";
import { SWEEPS_DIR, startRetention } from "./gc.ts";
import { WorkerPresence } from "./presence.ts";
import { viewOf } from "./entry.ts";
import type { Entry } from "./entry.ts";
import { modelChanged } from "./model-changed.ts";
import { SweepStore, readJournal } from "./store.ts";
import { logSweepEvent } from "./sweep-log.ts";
import { SweepRun, replayJournal } from "./sweep.ts";
import type { SweepEvent, SweepReplay } from "./sweep.ts";

const SAMPLE_INTERVAL_MS = 1000;
/** a worker that has reported nothing for this long is logged as gone (see presence.ts) */
export const DEFAULT_WORKER_QUIET_MS = 600_000;

export { VIEW_QUARANTINED_LISTED } from "./entry.ts";

export interface CoordinatorOptions {
  dataDir: string;
  queue: ShardQueue<ShardTask>;
  onSweepEvent?: (sweepId: string, e: SweepEvent) => void;
  /**
   * Reads a model directory's content digest (worker/model's digestCheckpoint, passed in by the
   * process that assembles the coordinator): it goes into every shard id, so results of other
   * weights are never reused.
   */
  digestModel: (path: string) => Promise<ModelDigest>;
  /**
   * Refuses a model path this coordinator may not open (outside its --models-root), throwing
   * an error that names `field` (`models[i].path`); checked before any file is read. Default: none.
   */
  checkModelPath?: (path: string, field: string) => void;
  /** a model's layer and head counts (from its config), to check a sweep's fixed head at submit */
  modelHeads?: (path: string) => Promise<{ nLayer: number; nHead: number }>;
  /** bounds on a submitted sweep (default DEFAULT_SWEEP_LIMITS); a sweep over one is refused with LIMIT_EXCEEDED */
  limits?: Partial<SweepLimits>;
  /**
   * true (default): start() resumes every unfinished sweep in the data directory. false: a sweep
   * found there is resumed only when its text is submitted again — a local run runs the one
   * sweep it was given, not every unfinished one an earlier run left behind.
   */
  resumeAtStart?: boolean;
  /**
   * true (default): a finished sweep's rankings are written once to its rankings.json and served
   * from it ever after, across restarts. false: merged again in each life of the coordinator —
   * a local run, which writes its own rankings file, gets rankings of the code that runs it.
   */
  keepRankings?: boolean;
  /** the operator's log: sweeps submitted and finished, stages planned, quarantines, workers seen (default: none) */
  log?: Logger;
  /** a worker that has reported nothing for this long is logged as left (default DEFAULT_WORKER_QUIET_MS) */
  workerQuietMs?: number;
  /**
   * remove a sweep's directory (journal, results, rankings) once it has been finished or cancelled
   * this long, at start and then periodically (gc.ts); default: kept for ever
   */
  retentionMs?: number;
  /** each sweep's journal is compacted past this many bytes (default DEFAULT_COMPACT_JOURNAL_BYTES; see store.ts) */
  compactJournalBytes?: number;
}

/** What submit() answers: the sweep, and whether it existed already (the same text and model contents). */
export interface SubmittedSweep extends SweepView {
  existing: boolean;
}

export interface SubmitOptions {
  /** a new sweep even when the same text was submitted with other model contents (else MODEL_CHANGED) */
  fresh?: boolean;
  /** how a MODEL_CHANGED refusal names the earlier sweep (default `sweep <its id>`); a local run names its data directory */
  previousLabel?: string;
}

/** A sweep found in the data directory and not resumed yet (resumeAtStart false). */
interface Dormant {
  plan: PlanSpec;
  dir: string;
  createdAt: Date;
}

export class Coordinator implements SweepBackend {
  private readonly sweeps = new Map<string, Entry>();
  private readonly shardOwner = new Map<string, string>();
  /** the latest sweep submitted from each text (fileKey), to tell a resubmission whose models changed */
  private readonly byFile = new Map<string, string>();
  private readonly dormant = new Map<string, Dormant>();
  private instanceId = "";
  private readonly limits: SweepLimits;
  private readonly log: Logger;
  private readonly presence: WorkerPresence;
  private presenceTimer: ReturnType<typeof setInterval> | undefined;
  private retention: { stop(): void } | undefined;

  constructor(private readonly o: CoordinatorOptions) {
    this.limits = resolveSweepLimits(o.limits);
    this.log = o.log ?? silentLogger;
    this.presence = new WorkerPresence({
      quietMs: o.workerQuietMs ?? DEFAULT_WORKER_QUIET_MS,
      onJoined: (worker) => this.log.info("worker joined", { worker }),
      onLeft: (worker, quietMs) =>
        this.log.info("worker left", { worker, reason: `no report for ${Math.round(quietMs / 1000)} s` }),
    });
  }

  /**
   * Replays the data directory; resolves when every unfinished sweep has republished its work
   * (with resumeAtStart false, when each has been found).
   */
  async start(): Promise<void> {
    const root = join(this.o.dataDir, SWEEPS_DIR);
    this.instanceId = await openDataDir(this.o.dataDir);
    const lazy = this.o.resumeAtStart === false;
    const quietMs = this.o.workerQuietMs ?? DEFAULT_WORKER_QUIET_MS;
    this.presenceTimer = setInterval(() => this.presence.check(), Math.max(1_000, Math.min(quietMs / 4, 30_000)));
    this.presenceTimer.unref();
    for (const id of readdirSync(root).sort()) {
      const dir = join(root, id);
      if (!existsSync(join(dir, "journal.jsonl"))) continue;
      const store = lazy ? null : this.newStore(dir);
      const events = store ? store.open() : readJournal(dir);
      const submitted = events.find((e) => e.type === "sweep-submitted");
      if (submitted?.type !== "sweep-submitted") continue;
      // planned by a version whose shards carried no model digests: none of its ids can be
      // matched or continued, so it is left on disk and not loaded
      if ((submitted.spec as Partial<PlanSpec>).models === undefined) continue;
      if (submitted.fileKey !== undefined) this.byFile.set(submitted.fileKey, id);
      const plan = submitted.spec as PlanSpec;
      const createdAt = new Date(submitted.at);
      if (store) await this.launch(id, plan, store, createdAt, replayJournal(events, id));
      else this.dormant.set(id, { plan, dir, createdAt });
    }
    if (this.o.retentionMs !== undefined)
      this.retention = startRetention({
        dataDir: this.o.dataDir,
        retentionMs: this.o.retentionMs,
        mayRemove: (id) => this.forget(id),
        log: this.log,
      });
  }

  /** Drops a finished sweep from memory (its store closed) so its directory can go; false while it runs. */
  private forget(id: string): boolean {
    const e = this.sweeps.get(id);
    if (e) {
      if (!TERMINAL_STATES.has(e.run.status().state)) return false;
      e.store.close();
      this.sweeps.delete(id);
      for (const [shard, owner] of this.shardOwner) if (owner === id) this.shardOwner.delete(shard);
    }
    this.dormant.delete(id);
    for (const [key, owner] of this.byFile) if (owner === id) this.byFile.delete(key);
    return true;
  }

  /**
   * Plans a sweep file, or returns the sweep this coordinator already has for the same text and
   * the same model contents. When the text was submitted before and a model's files have changed
   * since, it is refused (MODEL_CHANGED, naming the files) unless `fresh` asks for a new sweep.
   */
  async submit(yaml: string, source: string, options: SubmitOptions = {}): Promise<SubmittedSweep> {
    const spec = parseSweep(yaml, { fileName: source, limits: this.limits });
    checkCellLimit(spec, this.limits, source);
    if (this.instanceId === "") throw new Error("Coordinator.submit before start()");
    spec.models.forEach((m, i) => this.o.checkModelPath?.(m.path, `models[${i}].path`));
    const digests: Record<string, ModelDigest> = {};
    for (const [i, m] of spec.models.entries()) {
      try {
        digests[m.id] = await this.o.digestModel(m.path);
      } catch (err) {
        throw new SpecError(
          `models[${i}].path`,
          `${source}: models[${i}].path ${m.path}: ${(err as Error).message}`,
          err,
        );
      }
    }
    if (spec.cna.head && this.o.modelHeads) {
      const heads = new Map<string, { nLayer: number; nHead: number }>();
      for (const m of spec.models) heads.set(m.id, await this.o.modelHeads(m.path));
      checkHeadFits(spec, heads);
    }
    const fileKey = createHash("sha256").update(`${this.instanceId}\n${yaml}`).digest("hex");
    const contents = spec.models.map((m) => `${m.id} ${digests[m.id]!.digest}`).join("\n");
    const id = `${spec.name}-${createHash("sha256").update(`${fileKey}\n${contents}`).digest("hex").slice(0, 10)}`;
    const existing = this.sweeps.get(id);
    if (existing) return { ...this.view(existing), existing: true };
    const waiting = this.dormant.get(id);
    if (waiting) return { ...this.view(await this.resume(id, waiting)), existing: true };
    const previousId = this.byFile.get(fileKey) ?? "";
    const previous = this.sweeps.get(previousId)?.run.spec ?? this.dormant.get(previousId)?.plan;
    if (previous && !options.fresh)
      throw modelChanged(previous, digests, source, options.previousLabel ?? `sweep ${previous.sweepId}`);
    const plan = planSpecOf(spec, id, digests);
    checkShardLimit(plan, this.limits, source);
    const store = this.newStore(join(this.o.dataDir, "sweeps", id));
    store.open();
    const at = new Date();
    store.append({ type: "sweep-submitted", sweepId: id, at: at.toISOString(), spec: plan, source, fileKey });
    this.byFile.set(fileKey, id);
    this.log.info("sweep submitted", {
      sweep: id,
      name: spec.name,
      source,
      cells: plan.cells.length,
      shards: plannedShardCount(plan),
    });
    return { ...this.view(await this.launch(id, plan, store, at, replayJournal([], id))), existing: false };
  }

  get(id: string): SweepView {
    return this.view(this.entry(id));
  }

  list(): SweepView[] {
    return [...this.sweeps.values()]
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
      .map((e) => this.view(e));
  }

  watch(id: string, onUpdate: (v: SweepView) => void): () => void {
    const e = this.entry(id);
    e.watchers.add(onUpdate);
    onUpdate(this.view(e));
    return () => e.watchers.delete(onUpdate);
  }

  async cancel(id: string): Promise<SweepView> {
    const e = this.entry(id);
    await e.run.cancel();
    this.touch(e);
    return this.view(e);
  }

  /**
   * Re-queues a sweep's quarantined shards (SweepRun.requeueQuarantined). A failed sweep's
   * rankings.json is of the failed run: it is removed, durably, before the rerun is journalled,
   * so neither this coordinator nor a restarted one serves it; the rerun writes the new one.
   */
  async rerun(id: string): Promise<SweepView> {
    const e = this.entry(id);
    const s = e.run.status();
    if (s.state === "CANCELLED") throw new SweepCancelledError(id);
    if (s.quarantined.length === 0) throw new NothingToRerunError(id, s.state);
    await e.final?.catch(() => undefined);
    e.final = undefined;
    await removeDurably(join(e.store.dir, "rankings.json"));
    await e.run.requeueQuarantined();
    this.touch(e);
    return this.view(e);
  }

  /** A finished sweep's rankings come from its rankings.json (written once); a running one's are merged now. */
  async rankings(id: string): Promise<{ json: string; final: boolean }> {
    const e = this.entry(id);
    const state = e.run.status().state;
    const json =
      state === "SUCCEEDED" || state === "FAILED" ? await this.finalRankings(e) : rankingsText(e.run.rankings());
    return { json, final: state === "SUCCEEDED" };
  }

  async reportShard(r: ShardReport): Promise<ShardOutcome> {
    this.presence.seen(r.worker);
    try {
      const e = this.entry(r.sweepId);
      const outcome = await e.run.ingest(r);
      this.touch(e);
      return outcome;
    } catch (err) {
      // the worker gets the error too (and retries or gives up by its code); this is the operator's copy
      this.logRefused("shard report refused", r, err);
      throw err;
    }
  }

  async reportFailure(f: ShardFailure): Promise<void> {
    this.presence.seen(f.worker);
    try {
      const e = this.entry(f.sweepId);
      await e.run.fail(f);
      this.touch(e);
    } catch (err) {
      this.logRefused("shard failure report refused", f, err);
      throw err;
    }
  }

  /** The queue gave up on a shard (out of deliveries): quarantine it in its sweep. */
  shardDead(messageId: string, reason: string): void {
    const e = this.ownerOf(messageId);
    if (!e?.run.isCurrentMessage(messageId)) return;
    e.run.quarantine(messageId, reason);
    this.touch(e);
  }

  /**
   * The in-process queue delivered a shard: its sweep journals the delivery, so a shard that
   * kills the process is quarantined after the delivery limit counted across restarts.
   */
  shardDelivered(messageId: string, deliveryCount: number): void {
    this.ownerOf(messageId)?.run.delivered(messageId, deliveryCount);
  }

  close(): void {
    clearInterval(this.presenceTimer);
    this.retention?.stop();
    for (const e of this.sweeps.values()) e.store.close();
  }

  private logRefused(msg: string, r: { sweepId: string; shardId: string; worker: string }, err: unknown): void {
    const { code } = err as { code?: unknown };
    this.log.warn(msg, {
      sweep: r.sweepId,
      shard: r.shardId,
      worker: r.worker,
      code: typeof code === "string" ? code : undefined,
      reason: err instanceof Error ? err.message : String(err),
    });
  }

  private newStore(dir: string): SweepStore {
    return new SweepStore(
      dir,
      this.o.compactJournalBytes !== undefined ? { compactJournalBytes: this.o.compactJournalBytes } : {},
    );
  }

  /** A sweep found in the data directory at start, resumed now that it was submitted again. */
  private async resume(id: string, found: Dormant): Promise<Entry> {
    this.dormant.delete(id);
    const store = this.newStore(found.dir);
    return this.launch(id, found.plan, store, found.createdAt, replayJournal(store.open(), id));
  }

  private async launch(
    id: string,
    plan: PlanSpec,
    store: SweepStore,
    createdAt: Date,
    replay: SweepReplay,
  ): Promise<Entry> {
    const entry: Entry = {
      run: undefined as unknown as SweepRun,
      store,
      name: id.replace(/-[0-9a-f]{10}$/, ""),
      createdAt,
      updatedAt: createdAt,
      samples: [],
      watchers: new Set(),
      notifying: false,
    };
    entry.run = new SweepRun(plan, store, this.o.queue, (e) => {
      if (e.type === "published") this.shardOwner.set(e.shard.id, id);
      // a stored shard's late messages need no owner (quarantine is a no-op then): keeps the map to the shards in flight
      else if (e.type === "stored") this.shardOwner.delete(e.shardId);
      this.o.onSweepEvent?.(id, e);
      logSweepEvent(this.log, id, e, createdAt, new Date());
      if (e.type === "finished") {
        // written now so it is on disk with the journal; a failure reaches whoever asks for the rankings
        this.finalRankings(entry).catch((err: unknown) =>
          this.log.error("cannot write the sweep's rankings.json", {
            sweep: id,
            reason: err instanceof Error ? err.message : String(err),
          }),
        );
        this.touch(entry);
      }
    });
    this.sweeps.set(id, entry);
    const kept = this.o.keepRankings !== false && existsSync(join(store.dir, "rankings.json"));
    if (replay.cancelled) await entry.run.cancel();
    else await entry.run.start(replay, { finalRankingsKept: kept });
    const s = entry.run.status();
    entry.samples.push([Date.now(), s.shardsStored, s.casesDone]);
    return entry;
  }

  /** Writes <sweep>/rankings.json once (kept across restarts, unless keepRankings is false); a failed attempt is tried again on the next call. */
  private finalRankings(e: Entry): Promise<string> {
    e.final ??= (async () => {
      const file = join(e.store.dir, "rankings.json");
      const keep = this.o.keepRankings !== false;
      if (keep && existsSync(file)) return readFileSync(file, "utf8");
      const json = rankingsText(e.run.rankings());
      if (keep) await writeDurably(file, json);
      return json;
    })();
    e.final.catch(() => (e.final = undefined));
    return e.final;
  }

  /**
   * The sweep a queue message belongs to. An in-process queue can deliver a shard (or give it up)
   * before its publish is reported back, so a shard not recorded yet is looked up in each sweep.
   */
  private ownerOf(messageId: string): Entry | undefined {
    const shardId = shardIdOfMessage(messageId);
    const owner = this.shardOwner.get(shardId);
    if (owner !== undefined) return this.sweeps.get(owner);
    return [...this.sweeps.values()].find((e) => e.run.hasShard(shardId));
  }

  private entry(id: string): Entry {
    const e = this.sweeps.get(id);
    if (!e) throw new SweepNotFoundError(id);
    return e;
  }

  /** After every change: a rate sample (one a second at most, so 64 span a minute) and the watchers. */
  private touch(e: Entry): void {
    e.updatedAt = new Date();
    const now = e.updatedAt.getTime();
    const last = e.samples.at(-1);
    if (!last || now - last[0] >= SAMPLE_INTERVAL_MS) {
      const s = e.run.status();
      e.samples.push([now, s.shardsStored, s.casesDone]);
      if (e.samples.length > 64) e.samples.shift();
    }
    if (e.watchers.size === 0 || e.notifying) return;
    // reports stored together (one group commit) are told in one view, not one each
    e.notifying = true;
    setImmediate(() => {
      e.notifying = false;
      if (e.watchers.size === 0) return;
      const v = this.view(e);
      for (const w of e.watchers) w(v);
    });
  }

  private view(e: Entry): SweepView {
    return viewOf(e);
  }
}

/** rankings.json exactly as `cna run` writes it. */
function rankingsText(r: Rankings): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
