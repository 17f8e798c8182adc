/**
 * The operator's log of a coordinator and its workers: a small sweep run in this process (the
 * in-process transport) with a captured sink and a fixed clock logs the sweep submitted, each
 * cell's stage planned, the worker joined, a quarantined shard with its code, the sweep finished,
 * and the worker's start, drain and stop; the JSON format gives one object per line; a warn
 * level keeps the quarantine and drops the info lines.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../core/index.ts";
import type { LogFormat, LogLevel } from "../../core/index.ts";
import { prepareSweep, readSweepFile, resolvedSweepJson, startCoordinator, startWorker } from "../../app/index.ts";
import type { PreparedSweep } from "../../app/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";

const root = mkdtempSync(join(tmpdir(), "cna-logging-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let sweep: PreparedSweep;
beforeAll(async () => {
  writeGpt2Checkpoint(join(root, "tiny"), { nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 16, seed: 4 });
  writeFileSync(
    join(root, "logged.yaml"),
    'name: logged\nmodels: [{ id: tiny, path: tiny }]\noperators: ["+", "-"]\ndigits: [1]\ntemplates: [4]\ncases: { sample: 40, seed: 0 }\nstages: [head-ablation]\nshard: { pairs: 100 }\n',
  );
  sweep = await prepareSweep(readSweepFile(join(root, "logged.yaml")), { source: "logged.yaml" });
});

const AT = new Date("2026-12-04T08:00:00.000Z");

/**
 * One sweep to its end: the first shard pulled is reported as a terminal failure by a worker
 * "w-broken" (so it is quarantined), then a worker in this process runs the rest.
 */
async function runLogged(format: LogFormat, level: LogLevel, dir: string): Promise<string[]> {
  const lines: string[] = [];
  const log = createLogger({ level, format, write: (l) => lines.push(l), now: () => AT });
  const running = await startCoordinator({ dataDir: join(root, dir), listen: null, log });
  try {
    const { sweepId } = await running.coordinator.submit(resolvedSweepJson(sweep.spec), "logged.yaml");
    const first = await running.inProcess!.queue.pull(1000);
    expect(first).not.toBeNull();
    await running.coordinator.reportFailure({
      sweepId,
      shardId: first!.id,
      worker: "w-broken",
      attempt: 1,
      code: "MODEL_CHANGED",
      message: "the model's files changed",
      retryable: false,
    });
    await first!.term("reported");
    const done = new Promise<void>((resolve) =>
      running.coordinator.watch(sweepId, (v) => v.state !== "RUNNING" && resolve()),
    );
    const worker = await startWorker({
      id: "w-good",
      transport: { kind: "memory", ...running.inProcess! },
      pullTimeoutMs: 50,
      log,
    });
    await done;
    await worker.close();
  } finally {
    await running.close();
  }
  return lines;
}

describe("the operator's log", () => {
  it("tells a small sweep's events in text, one line each, with ISO time and level", async () => {
    const lines = await runLogged("text", "info", "text");
    const has = (re: RegExp) =>
      expect(
        lines.filter((l) => re.test(l)),
        lines.join("\n"),
      ).toHaveLength(1);
    expect(lines.every((l) => l.startsWith("2026-12-04T08:00:00.000Z "))).toBe(true);
    has(/ INFO sweep submitted sweep=logged-[0-9a-f]{10} name=logged source=logged\.yaml cells=2 shards=2$/);
    has(/ INFO stage planned .*cell="tiny \+ 1D t4" stage=head-ablation shards=1$/);
    has(/ INFO stage planned .*cell="tiny - 1D t4" stage=head-ablation shards=1$/);
    has(/ INFO worker joined worker=w-broken$/);
    has(/ WARN shard failed .*code=MODEL_CHANGED$/);
    has(/ WARN shard quarantined .*stage=head-ablation model=tiny code=MODEL_CHANGED reason="MODEL_CHANGED: /);
    has(/ INFO worker joined worker=w-good$/);
    has(/ WARN sweep finished sweep=logged-[0-9a-f]{10} state=FAILED durationS=/);
    has(/ INFO worker started worker=w-good provider=cpu concurrency=1 loops=1 coordinator=in-process$/);
    has(/ INFO worker draining worker=w-good/);
    has(/ INFO worker stopped worker=w-good$/);
    // shard starts and finishes are debug
    expect(lines.filter((l) => / shard (started|finished) /.test(l))).toEqual([]);
  });

  it("writes one JSON object per line in json format, with time, level, msg and fields", async () => {
    const lines = await runLogged("json", "debug", "json");
    const objects = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const o of objects) expect(Object.keys(o).slice(0, 3)).toEqual(["time", "level", "msg"]);
    const quarantined = objects.find((o) => o.msg === "shard quarantined");
    expect(quarantined).toMatchObject({
      time: "2026-12-04T08:00:00.000Z",
      level: "warn",
      stage: "head-ablation",
      code: "MODEL_CHANGED",
      sweep: expect.stringMatching(/^logged-/),
      shard: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(objects.find((o) => o.msg === "sweep submitted")).toMatchObject({ level: "info", cells: 2, shards: 2 });
    // at debug, the worker's shard lines are there
    expect(objects.filter((o) => o.msg === "shard finished" && o.worker === "w-good")).toHaveLength(1);
  });

  it("at --log-level warn keeps warnings and drops info lines", async () => {
    const lines = await runLogged("text", "warn", "warn");
    expect(lines.some((l) => / WARN shard quarantined /.test(l))).toBe(true);
    expect(lines.filter((l) => !/ (WARN|ERROR) /.test(l))).toEqual([]);
  });
});
