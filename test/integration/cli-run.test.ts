/**
 * `cna run` end to end (embedded mode) on a tiny random checkpoint: rankings.json valid against
 * the schema and independent of the worker count, provenance written, a second run resumes, and
 * a broken sweep file is refused with the field named.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Rankings } from "../../core/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";
import { runCli } from "../helpers/cli.ts";
import { rankingsSchemaErrors } from "../helpers/rankings-schema.ts";

const SWEEP = `name: tiny-run
models:
  - path: tiny
operators: ["+", "*"]
digits: [1]
stages: [head-ablation, cna, verify]
cna: { topK: 10 }
verify: { ks: [5, 10] }
shard: { pairs: 40 }
`;

describe("cna run", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "cna-run-"));
    writeGpt2Checkpoint(join(root, "tiny"), { nLayer: 2, nHead: 2, nEmbd: 16 });
    writeFileSync(join(root, "sweep.yaml"), SWEEP);
    writeFileSync(join(root, "broken.yaml"), SWEEP.replace("digits: [1]", "digits: [4]"));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("writes schema-valid rankings that do not depend on the worker count, and resumes", async () => {
    const a = await runCli(root, ["run", "sweep.yaml", "--out", "a", "--workers", "1", "--quiet"]);
    expect(a.code, a.stderr).toBe(0);
    const b = await runCli(root, ["run", "sweep.yaml", "--out", "b", "--workers", "3"]);
    expect(b.code, b.stderr).toBe(0);
    // one summary row per cell, then the files and the commands that show the rest
    expect(b.stdout).toMatch(/^model +op +D +t +base +head +drop +neuron +K +mask +random$/m);
    expect(b.stdout).toMatch(/^tiny +\+ +1 +4 +\d+\.\d% +L\dH\d\*? +-?\d+\.\d% +L\dN\d+ +10 /m);
    expect(b.stderr).toMatch(/sweep tiny-run succeeded/);
    // the opening line names every stage a cell runs, the implied top-tokens one too
    expect(b.stderr).toMatch(/cells x head-ablation -> cna -> verify -> top-tokens, /);
    expect(b.stderr).toMatch(/^ {2}cna rankings b --kind heads/m);
    const ra = readFileSync(join(root, "a", "rankings.json"), "utf8");
    expect(readFileSync(join(root, "b", "rankings.json"), "utf8")).toBe(ra);
    const rankings = JSON.parse(ra) as Rankings;
    expect(rankingsSchemaErrors(rankings)).toEqual([]);
    expect(
      rankings.cells.map((c) => [c.op, c.heads?.length, c.neurons?.length, c.verification?.mask.map((p) => p.k)]),
    ).toEqual([
      ["+", 4, 50, [5, 10]],
      ["*", 4, 50, [5, 10]],
    ]);
    const prov = JSON.parse(readFileSync(join(root, "a", "provenance.json"), "utf8"));
    expect(prov.models[0].sha256).toMatch(/^[0-9a-f]{64}$/);
    // the report's title and its failure banner read these
    expect([prov.name, prov.state, prov.cells]).toEqual(["tiny-run", "succeeded", { planned: 2, done: 2, failed: 0 }]);
    expect(readFileSync(join(root, "a", "report.html"), "utf8")).toContain("<title>tiny-run</title>");
    expect(prov.shards.map((s: { stage: string; stored: number }) => [s.stage, s.stored])).toEqual([
      ["head-ablation", 6],
      ["cna", 6],
      ["verify", 6],
      ["top-tokens", 2],
    ]);

    const again = await runCli(root, ["run", "sweep.yaml", "--out", "a"]);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(root, "a", "rankings.json"), "utf8")).toBe(ra);
  });

  it("refuses a broken sweep file, naming the field", async () => {
    const r = await runCli(root, ["run", "broken.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/BAD_SPEC: broken\.yaml:\d+:\d+: .*digits/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("refuses to resume after a model's weights changed, naming the file; --fresh starts over", async () => {
    const sweep = SWEEP.replace("name: tiny-run", "name: tiny-change")
      .replace("  - path: tiny", "  - path: changing")
      .replace("stages: [head-ablation, cna, verify]", "stages: [head-ablation]");
    writeFileSync(join(root, "change.yaml"), sweep);
    writeGpt2Checkpoint(join(root, "changing"), { nLayer: 2, nHead: 2, nEmbd: 16, seed: 5 });
    const first = await runCli(root, ["run", "change.yaml", "--out", "c", "--quiet"]);
    expect(first.code, first.stderr).toBe(0);
    const before = readFileSync(join(root, "c", "rankings.json"), "utf8");

    const same = await runCli(root, ["run", "change.yaml", "--out", "c"]);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toMatch(/resuming: 6\/6 shards already done in \S+c\/state/);
    expect(readFileSync(join(root, "c", "rankings.json"), "utf8")).toBe(before);

    // other weights, same shapes and names: only the tensor data differs
    writeGpt2Checkpoint(join(root, "changing"), { nLayer: 2, nHead: 2, nEmbd: 16, seed: 6 });
    const stale = await runCli(root, ["run", "change.yaml", "--out", "c"]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(
      /MODEL_CHANGED: change\.yaml: model files changed since sweep in \S+ was planned \(changing: model\.safetensors\).*--fresh/,
    );
    expect(readFileSync(join(root, "c", "rankings.json"), "utf8")).toBe(before);

    const fresh = await runCli(root, ["run", "change.yaml", "--out", "c", "--fresh"]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stderr).not.toMatch(/resuming/);
    const after = readFileSync(join(root, "c", "rankings.json"), "utf8");
    expect(after).not.toBe(before);
    const prov = JSON.parse(readFileSync(join(root, "c", "provenance.json"), "utf8"));
    const fromScratch = await runCli(root, ["run", "change.yaml", "--out", "d", "--quiet"]);
    expect(fromScratch.code, fromScratch.stderr).toBe(0);
    expect(after).toBe(readFileSync(join(root, "d", "rankings.json"), "utf8"));
    expect(prov.models[0].sha256).toBe(
      JSON.parse(readFileSync(join(root, "d", "provenance.json"), "utf8")).models[0].sha256,
    );
  });

  it("refuses --out - : the output is a directory", async () => {
    const r = await runCli(root, ["run", "sweep.yaml", "--out", "-"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out is a directory .* cannot be - \(stdout\)/);
    expect(readdirSync(root)).not.toContain("-");
  });

  it("names a missing sweep file", async () => {
    const r = await runCli(root, ["run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing SWEEP\.yaml/);
  });
});
