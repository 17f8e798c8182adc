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
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  ModelChangedError,
  SpecError,
  changedFiles,
  checkHeadFits,
  parseSweep,
  resolveSweepLimits,
  shardIdOfMessage,
} from "../core/index.ts";
import type {
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
import { SweepNotFoundError } from "./errors.ts";
import { checkCellLimit, checkShardLimit, planSpecOf } from "./planner.ts";
import type { PlanSpec } from "./planner.ts";
import { writeDurably } from "./blob-writer.ts";
import { SweepStore, readJournal } from "./store.ts";
import { SweepRun, replayJournal } from "./sweep.ts";
import type { SweepEvent, SweepReplay } from "./sweep.ts";

const SAMPLE_INTERVAL_MS = 1000;
/**
 * Quarantined shards a view lists: a view goes to every watcher on every change, so it must not
 * grow with the sweep; the stages count every quarantined shard, and the journal names them all.
 */
export const VIEW_QUARANTINED_LISTED = 20;

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
  /** each sweep's journal is compacted past this many bytes (default DEFAULT_COMPACT_JOURNAL_BYTES; see store.ts) */
  compactJournalBytes?: number;
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

interface Entry {
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

export class Coordinator implements SweepBackend {
  private readonly sweeps = new Map<string, Entry>();
  private readonly shardOwner = new Map<string, string>();
  /** the latest sweep submitted from each text (fileKey), to tell a resubmission whose models changed */
  private readonly byFile = new Map<string, string>();
  private readonly dormant = new Map<string, Dormant>();
  private instanceId = "";
  private readonly limits: SweepLimits;

  constructor(private readonly o: CoordinatorOptions) {
    this.limits = resolveSweepLimits(o.limits);
  }

  /**
   * Replays the data directory; resolves when every unfinished sweep has republished its work
   * (with resumeAtStart false, when each has been found).
   */
  async start(): Promise<void> {
    const root = join(this.o.dataDir, "sweeps");
    mkdirSync(root, { recursive: true });
    const idFile = join(this.o.dataDir, "instance-id");
    if (!existsSync(idFile)) await writeDurably(idFile, `${randomUUID()}\n`);
    this.instanceId = readFileSync(idFile, "utf8").trim();
    const lazy = this.o.resumeAtStart === false;
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
  }

  /**
   * Plans a sweep file, or returns the sweep this coordinator already has for the same text and
   * the same model contents. When the text was submitted before and a model's files have changed
   * since, it is refused (MODEL_CHANGED, naming the files) unless `fresh` asks for a new sweep.
   */
  async submit(yaml: string, source: string, options: SubmitOptions = {}): Promise<SweepView> {
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
    if (existing) return this.view(existing);
    const waiting = this.dormant.get(id);
    if (waiting) return this.view(await this.resume(id, waiting));
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
    return this.view(await this.launch(id, plan, store, at, replayJournal([], id)));
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

  /** A finished sweep's rankings come from its rankings.json (written once); a running one's are merged now. */
  async rankings(id: string): Promise<{ json: string; final: boolean }> {
    const e = this.entry(id);
    const state = e.run.status().state;
    const json =
      state === "SUCCEEDED" || state === "FAILED" ? await this.finalRankings(e) : rankingsText(e.run.rankings());
    return { json, final: state === "SUCCEEDED" };
  }

  async reportShard(r: ShardReport): Promise<ShardOutcome> {
    const e = this.entry(r.sweepId);
    const outcome = await e.run.ingest(r);
    this.touch(e);
    return outcome;
  }

  async reportFailure(f: ShardFailure): Promise<void> {
    const e = this.entry(f.sweepId);
    await e.run.fail(f);
    this.touch(e);
  }

  /** The queue gave up on a shard (out of deliveries): quarantine it in its sweep. */
  shardDead(messageId: string, reason: string): void {
    const e = this.ownerOf(messageId);
    if (!e) return;
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
    for (const e of this.sweeps.values()) e.store.close();
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
      if (e.type === "finished") {
        // written now so it is on disk with the journal; a failure reaches whoever asks for the rankings
        this.finalRankings(entry).catch(() => undefined);
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
    const s = e.run.status(VIEW_QUARANTINED_LISTED);
    const [t0, n0, c0] = e.samples[0] ?? [Date.now(), 0, 0];
    const seconds = (Date.now() - t0) / 1000;
    const shardsPerSecond = seconds > 0 ? (s.shardsStored - n0) / seconds : 0;
    const casesPerSecond = seconds > 0 ? (s.casesDone - c0) / seconds : 0;
    const remaining = s.shardsExpected - s.shardsStored;
    const etaSeconds = TERMINAL_STATES.has(s.state) ? 0 : shardsPerSecond > 0 ? remaining / shardsPerSecond : null;
    return { ...s, name: e.name, createdAt: e.createdAt, updatedAt: e.updatedAt, etaSeconds, casesPerSecond };
  }
}

/**
 * The error for a plan whose models no longer have the digests they were planned with;
 * `planned` names what was planned with them, e.g. `sweep <id>`.
 */
export function modelChanged(
  plan: PlanSpec,
  now: Readonly<Record<string, ModelDigest>>,
  source: string,
  planned: string,
): ModelChangedError {
  const changes = Object.entries(plan.models ?? {}).flatMap(([model, before]) => {
    const after = now[model];
    if (!after || after.digest === before.digest) return [];
    return changedFiles(before, after).map((f) => ({ model, file: f }));
  });
  const named = changes.map((c) => `${c.model}: ${c.file}`).join(", ");
  const model = changes[0]?.model ?? "";
  return new ModelChangedError(
    model,
    changes.map((c) => c.file),
    `${source}: model files changed since ${planned} was planned (${named || "the set of models"}); its results are of the old files. Put them back, or start afresh (--fresh)`,
  );
}

/** rankings.json exactly as `cna run` writes it. */
function rankingsText(r: Rankings): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
