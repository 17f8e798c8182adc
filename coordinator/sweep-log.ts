/**
 * The operator's lines about one sweep, from its events: a stage planned, a shard failed,
 * quarantined or found corrupt, the sweep finished. Per-shard progress (published, stored,
 * duplicate) is debug: a sweep has thousands of shards, and the metrics count them.
 */
import type { Logger } from "../core/index.ts";
import type { SweepEvent } from "./sweep.ts";

export function logSweepEvent(log: Logger, sweep: string, e: SweepEvent, startedAt: Date, now: Date): void {
  switch (e.type) {
    case "stage-planned":
      log.info("stage planned", { sweep, cell: e.cell, stage: e.stage, shards: e.shards });
      return;
    case "stage-merged":
      log.debug("stage merged", { sweep, cell: e.cell, stage: e.stage });
      return;
    case "failed":
      log.warn("shard failed", { sweep, shard: e.shardId, stage: e.stage, model: e.model, code: e.code });
      return;
    case "quarantined":
      log.warn("shard quarantined", {
        sweep,
        shard: e.shardId,
        stage: e.stage,
        model: e.model,
        code: codeOf(e.reason),
        reason: e.reason,
      });
      return;
    case "corrupt":
      log.warn("stored result corrupt; moved aside, computing it again", {
        sweep,
        shard: e.shardId,
        stage: e.stage,
        model: e.model,
      });
      return;
    case "finished":
      (e.state === "SUCCEEDED" ? log.info : log.warn)("sweep finished", {
        sweep,
        state: e.state,
        durationS: Math.round((now.getTime() - startedAt.getTime()) / 100) / 10,
      });
      return;
    case "published":
      if (log.enabled("debug")) log.debug("shard published", { sweep, shard: e.shard.id, stage: e.shard.task.stage });
      return;
    case "stored":
      log.debug("shard stored", { sweep, shard: e.shardId, stage: e.stage, worker: e.worker, attempt: e.attempt });
      return;
    case "duplicate":
      (e.matches ? log.debug : log.warn)(
        e.matches ? "duplicate result" : "duplicate result differs (non-determinism)",
        {
          sweep,
          shard: e.shardId,
          stage: e.stage,
        },
      );
      return;
  }
}

/**
 * A quarantine reason starts with the failure's code (`MODEL_CHANGED: ...`) when a worker reported
 * one; the queue's own reasons (out of deliveries) have none.
 */
function codeOf(reason: string): string | undefined {
  return /^([A-Z][A-Z0-9_]+):/.exec(reason)?.[1];
}
