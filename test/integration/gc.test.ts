/**
 * Old sweeps out of a data directory (coordinator/gc.ts, `cna gc`, the coordinator's retention):
 * sweeps that finished or were cancelled long enough ago are removed with their results, running
 * and recent ones are kept, a dry run removes nothing, a collection interrupted after its atomic
 * step (the sweep moved to gc-trash, partly deleted) breaks no restart and is finished by the
 * next one, and the coordinator restarts and finishes its running sweep afterwards.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  collectSweeps,
  prepareSweep,
  readSweepFile,
  resolvedSweepJson,
  startCoordinator,
  startWorker,
} from "../../app/index.ts";
import type { PreparedSweep, RunningCoordinator } from "../../app/index.ts";
import { createLogger } from "../../core/index.ts";
import { main } from "../../cli/main.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";

const root = mkdtempSync(join(tmpdir(), "cna-gc-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const DAY = 86_400_000;

const sweeps = new Map<string, PreparedSweep>();
beforeAll(async () => {
  writeGpt2Checkpoint(join(root, "tiny"), { nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 16, seed: 4 });
  for (const name of ["done-a", "done-b", "stopped", "live"]) {
    const file = join(root, `${name}.yaml`);
    writeFileSync(
      file,
      `name: ${name}\nmodels: [{ id: tiny, path: tiny }]\noperators: ["+"]\ndigits: [1]\ntemplates: [4]\ncases: { sample: 20, seed: 0 }\nstages: [head-ablation]\n`,
    );
    sweeps.set(name, await prepareSweep(readSweepFile(file), { source: `${name}.yaml` }));
  }
});

const submit = async (c: RunningCoordinator, name: string) =>
  (await c.coordinator.submit(resolvedSweepJson(sweeps.get(name)!.spec), `${name}.yaml`)).sweepId;

/** Runs the workers of this process until every sweep the coordinator has is no longer running. */
async function drainAll(c: RunningCoordinator): Promise<void> {
  const worker = await startWorker({ id: "w", transport: { kind: "memory", ...c.inProcess! }, pullTimeoutMs: 50 });
  try {
    const until = Date.now() + 60_000;
    while (c.coordinator.list().some((v) => v.state === "RUNNING") && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
  } finally {
    await worker.close();
  }
  expect(c.coordinator.list().map((v) => v.state)).not.toContain("RUNNING");
}

describe("collecting old sweeps", () => {
  const data = join(root, "data");
  const ids: Record<string, string> = {};
  const onDisk = () => readdirSync(join(data, "sweeps")).sort();

  beforeAll(async () => {
    const c = await startCoordinator({ dataDir: data, listen: null });
    try {
      ids.a = await submit(c, "done-a");
      ids.b = await submit(c, "done-b");
      await drainAll(c);
      ids.stopped = await submit(c, "stopped");
      await c.coordinator.cancel(ids.stopped);
      ids.live = await submit(c, "live"); // no worker: it stays running
      expect(c.coordinator.get(ids.live).state).toBe("RUNNING");
    } finally {
      await c.close();
    }
  });

  it("keeps every sweep that ended less than --older-than ago, and running ones whatever the age", () => {
    const r = collectSweeps({ dataDir: data, olderThanMs: 7 * DAY });
    expect(r.removed).toEqual([]);
    expect(r.kept.map((k) => k.why.split(" ")[0]).sort()).toEqual(["recent", "recent", "recent", "running"]);
  });

  it("lists in a dry run what it would remove, and removes nothing", () => {
    const before = onDisk();
    const r = collectSweeps({ dataDir: data, olderThanMs: 7 * DAY, dryRun: true, now: () => Date.now() + 8 * DAY });
    expect(r.removed.map((s) => s.sweepId).sort()).toEqual([ids.a, ids.b, ids.stopped].sort());
    expect(r.removed.every((s) => s.bytes > 0)).toBe(true);
    expect(onDisk()).toEqual(before);
  });

  it("survives a collection interrupted after its atomic step: the restart ignores the trash, the next gc empties it", async () => {
    // what a crash mid-removal leaves: the sweep already in gc-trash, part of its files deleted
    const trash = join(data, "gc-trash", ids.b!);
    mkdirSync(join(data, "gc-trash"), { recursive: true });
    cpSync(join(data, "sweeps", ids.b!), trash, { recursive: true });
    rmSync(join(trash, "rankings.json"), { force: true });
    rmSync(join(trash, "results"), { recursive: true, force: true });
    rmSync(join(data, "sweeps", ids.b!), { recursive: true });
    const c = await startCoordinator({ dataDir: data, listen: null });
    try {
      expect(c.coordinator.list().map((v) => v.sweepId)).not.toContain(ids.b);
      expect(c.coordinator.list().map((v) => v.sweepId)).toContain(ids.a);
    } finally {
      await c.close();
    }
    const r = collectSweeps({ dataDir: data, olderThanMs: 7 * DAY });
    expect(r.leftovers).toBe(1);
    expect(readdirSync(join(data, "gc-trash"))).toEqual([]);
  });

  it("removes old finished and cancelled sweeps; the coordinator restarts with the running one and finishes it", async () => {
    const r = collectSweeps({ dataDir: data, olderThanMs: 7 * DAY, now: () => Date.now() + 8 * DAY });
    expect(r.removed.map((s) => [s.sweepId, s.state]).sort()).toEqual(
      [
        [ids.a, "SUCCEEDED"],
        [ids.stopped, "CANCELLED"],
      ].sort(),
    );
    expect(onDisk()).toEqual([ids.live]);
    expect(readdirSync(join(data, "gc-trash"))).toEqual([]);
    const c = await startCoordinator({ dataDir: data, listen: null });
    try {
      expect(c.coordinator.list().map((v) => v.sweepId)).toEqual([ids.live]);
      await drainAll(c);
      expect(c.coordinator.get(ids.live!).state).toBe("SUCCEEDED");
      expect(JSON.parse((await c.coordinator.rankings(ids.live!)).json)).toHaveProperty("cells");
    } finally {
      await c.close();
    }
  });
});

describe("a coordinator's retention", () => {
  it("removes sweeps past it at start, from disk and from its list, and keeps running ones", async () => {
    const data = join(root, "retention");
    let c = await startCoordinator({ dataDir: data, listen: null });
    const done = await submit(c, "done-a");
    await drainAll(c);
    const live = await submit(c, "live");
    await c.close();
    const lines: string[] = [];
    c = await startCoordinator({
      dataDir: data,
      listen: null,
      retentionMs: 0,
      log: createLogger({ write: (l) => lines.push(l) }),
    });
    try {
      expect(c.coordinator.list().map((v) => v.sweepId)).toEqual([live]);
      expect(existsSync(join(data, "sweeps", done))).toBe(false);
      expect(lines.filter((l) => l.includes("sweep removed (retention)"))).toEqual([
        expect.stringContaining(`sweep=${done} state=SUCCEEDED`),
      ]);
    } finally {
      await c.close();
    }
  });
});

describe("cna gc", () => {
  it("prints what it removes (or would), and refuses a bad --older-than by name", async () => {
    const data = join(root, "cli");
    const c = await startCoordinator({ dataDir: data, listen: null });
    const id = await submit(c, "done-b");
    await drainAll(c);
    await c.close();
    const run = async (...args: string[]) => {
      let stdout = "";
      let stderr = "";
      const code = await main(["gc", "--data", data, ...args], {
        stdout: { write: (t: string) => (stdout += t) },
        stderr: { write: (t: string) => (stderr += t) },
      });
      return { code, stdout, stderr };
    };
    const dry = await run("--older-than", "0", "--dry-run");
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`^would remove ${id} \\(SUCCEEDED, ended \\S+, [\\d.]+ MB\\)$`, "m"));
    expect(existsSync(join(data, "sweeps", id))).toBe(true);
    const kept = await run();
    expect([kept.code, kept.stdout]).toEqual([0, ""]);
    expect(kept.stderr).toMatch(/removed 0 sweep\(s\), 0\.0 MB; kept 1/);
    const bad = await run("--older-than", "30");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--older-than must be a duration such as 90s, 10m, 12h or 7d/);
    const real = await run("--older-than", "0");
    expect(real.stdout).toMatch(new RegExp(`^removed ${id} `, "m"));
    expect(readdirSync(join(data, "sweeps"))).toEqual([]);
  });
});
