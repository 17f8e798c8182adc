/**
 * `cna watch` and `cna rankings ID` against a real gRPC SweepService on 127.0.0.1:0 (an in-memory
 * backend behind it): the watch prints whole lines in a log, each stage against its planned total
 * ("~" until planned in every cell), and a remote sweep's rankings export exactly as the same
 * rankings.json read from a file.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSweepServer } from "../../coordinator/grpc/index.ts";
import type { SweepServer } from "../../coordinator/grpc/index.ts";
import { main } from "../../cli/index.ts";
import { FakeSweepBackend } from "../helpers/grpc-backend.ts";
import { demoLikeRankings } from "../helpers/rankings-fixture.ts";

const RANKINGS_JSON = `${JSON.stringify(demoLikeRankings(), null, 2)}\n`;

class RankedBackend extends FakeSweepBackend {
  override rankings(id: string): { json: string; final: boolean } {
    return { json: RANKINGS_JSON, final: super.rankings(id).final };
  }
}

async function cna(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
  });
  return { code, stdout, stderr };
}

/** Polls `check` until it holds or `ms` pass. */
async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("cna watch and cna rankings ID", () => {
  let root: string;
  let backend: RankedBackend;
  let server: SweepServer;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "cna-watch-"));
    writeFileSync(join(root, "rankings.json"), RANKINGS_JSON);
    backend = new RankedBackend();
    server = await startSweepServer({ backend, host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("prints a line per change in a log, each stage against its planned total", async () => {
    const sweep = await backend.submit("name: w\n", "test");
    const watching = cna(["watch", sweep.sweepId, "--coordinator", server.address]);
    await until(() => backend.watcherCount(sweep.sweepId) > 0);
    const stage = (stored: number, cnaTotal: number) => [
      { stage: "head-ablation" as const, total: 4, expected: 4, stored: Math.min(stored, 4), quarantined: 0 },
      { stage: "cna" as const, total: cnaTotal, expected: 4, stored: Math.max(0, stored - 4), quarantined: 0 },
    ];
    backend.update(sweep.sweepId, { stages: stage(4, 4) });
    backend.update(sweep.sweepId, { state: "SUCCEEDED", cellsDone: 2, stages: stage(8, 4) });
    const r = await watching;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split("\n").filter((l) => l.startsWith(sweep.sweepId));
    expect(lines[0]).toBe(`${sweep.sweepId} [running] cells 0/2 · head-ablation 0/4 · cna 0/~4 · 0.0 cases/s`);
    expect(lines.at(-1)).toBe(`${sweep.sweepId} [succeeded] cells 2/2 · head-ablation 4/4 · cna 4/4 · 0.0 cases/s`);
    expect(r.stderr).not.toContain("\r");
  });

  it("exports a sweep's rankings as the same tables as its rankings.json file", async () => {
    const sweep = await backend.submit("name: r\n", "test");
    backend.update(sweep.sweepId, { state: "SUCCEEDED" });
    for (const kind of ["heads", "neurons", "verification", "summary"]) {
      const remote = await cna([
        "rankings",
        sweep.sweepId,
        "--coordinator",
        server.address,
        "--kind",
        kind,
        "--format",
        "csv",
      ]);
      expect(remote.code, remote.stderr).toBe(0);
      expect(remote.stdout).toBe(
        (await cna(["rankings", join(root, "rankings.json"), "--kind", kind, "--format", "csv"])).stdout,
      );
    }
    expect((await cna(["rankings", sweep.sweepId, "--coordinator", server.address, "--format", "json"])).stdout).toBe(
      RANKINGS_JSON,
    );
    const both = await cna(["rankings", join(root, "rankings.json"), "--coordinator", server.address]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--coordinator and a rankings file exclude each other/);
  });
});
