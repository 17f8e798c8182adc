/**
 * The sweep limits on the real CLI: `cna run` applies a coordinator's bounds to what it plans
 * here (an 810,000-shard sweep is refused before anything is planned, naming --max-shards), takes
 * the same --max-* flags to raise or lower them, and both commands refuse a --max-yaml-depth the
 * parser could not survive.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";
import { runCli } from "../helpers/cli.ts";

const SWEEP = `name: limited
models:
  - path: tiny
operators: ["+", "-"]
digits: [1]
stages: [head-ablation]
shard: { pairs: 10 }
`;

describe("sweep limits on cna run", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "cna-cli-limits-"));
    writeGpt2Checkpoint(join(root, "tiny"), { nLayer: 1, nHead: 2, nEmbd: 8 });
    writeFileSync(join(root, "sweep.yaml"), SWEEP);
    // every 3-digit pair of one operator, one pair per shard: the 810,000-shard sweep
    writeFileSync(
      join(root, "huge.yaml"),
      SWEEP.replace('["+", "-"]', '["+"]').replace("digits: [1]", "digits: [3]").replace("pairs: 10", "pairs: 1") +
        "cases: { sample: all }\n",
    );
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("refuses more shards than --max-shards, and more cells than --max-cells, naming the flag", async () => {
    const shards = await runCli(root, ["run", "sweep.yaml", "--out", "a", "--max-shards", "10", "--quiet"]);
    expect(shards.code, shards.stderr).toBe(1);
    expect(shards.stderr).toContain(
      "LIMIT_EXCEEDED: sweep.yaml: the sweep plans 20 shards, over the limit of 10 (--max-shards raises it)",
    );
    const cells = await runCli(root, ["run", "sweep.yaml", "--out", "a", "--max-cells", "1", "--quiet"]);
    expect(cells.code, cells.stderr).toBe(1);
    expect(cells.stderr).toContain(
      "LIMIT_EXCEEDED: sweep.yaml: the sweep has 2 cells (1 models × 2 operators × 1 digit ranges × 1 templates), over the limit of 1 (--max-cells raises it)",
    );
    expect(existsSync(join(root, "a", "state"))).toBe(false);
  });

  it("refuses the 810,000-shard sweep by default, before planning it", async () => {
    const r = await runCli(root, ["run", "huge.yaml", "--out", "huge", "--quiet"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(
      "LIMIT_EXCEEDED: huge.yaml: the sweep plans 810000 shards, over the limit of 250000 (--max-shards raises it)",
    );
    expect(existsSync(join(root, "huge", "state"))).toBe(false);
  });

  it("runs a sweep within raised limits", async () => {
    const r = await runCli(root, [
      "run",
      "sweep.yaml",
      "--out",
      "b",
      "--max-shards",
      "20",
      "--max-cells",
      "2",
      "--quiet",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(root, "b", "rankings.json"))).toBe(true);
  });

  it("refuses a --max-yaml-depth above 64, on cna run and cna coordinator", async () => {
    for (const args of [
      ["run", "sweep.yaml", "--max-yaml-depth", "65"],
      ["coordinator", "--data", "d", "--nats", "nats://127.0.0.1:1", "--max-yaml-depth", "65"],
    ]) {
      const r = await runCli(root, args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain("--max-yaml-depth must be at most 64");
    }
  });
});
