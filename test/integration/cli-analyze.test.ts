/**
 * `cna analyze` end to end: the real bin (node cli/cna.js) in a child process on a tiny random
 * checkpoint. Checks the files against the JSON Schema and docs/method.md's structural rules, and that
 * bad inputs exit non-zero with a message naming what was wrong. Numbers are not checked here
 * (the golden tests do that); the model is random, so its accuracies are meaningless.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CellRankings, HeadRank, Rankings } from "../../core/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";
import { runCli } from "../helpers/cli.ts";
import type { CliRun } from "../helpers/cli.ts";
import { rankingsSchemaErrors } from "../helpers/rankings-schema.ts";

const L = 2;
const H = 2;
/** 1D "+" with template 4: 100 pairs, 45 of them with a two-digit sum. */
const CASES_1D_ADD = 145;

let root: string;
let model: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "cna-cli-"));
  model = join(root, "tiny");
  writeGpt2Checkpoint(model, { nLayer: L, nHead: H });
  writeGpt2Checkpoint(join(root, "bert"), { config: { model_type: "bert" } });
  writeFileSync(
    join(root, "bad-pairs.json"),
    JSON.stringify([
      [6, 3],
      [7, 2],
    ]),
  );
  writeFileSync(join(root, "good-pairs.json"), JSON.stringify([[6, 3], { a: 8, b: 4 }, [0, 7]]));
  writeFileSync(
    join(root, "2d-pairs.json"),
    JSON.stringify([
      [3, 4],
      [12, 3],
    ]),
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Run = CliRun;
const cna = (...args: string[]): Promise<Run> => runCli(root, args);

/** Runs an analysis on a 1D cell and returns its only cell, after checking the run and the file. */
async function analyze(name: string, extra: string[], op = "+"): Promise<{ cell: CellRankings; run: Run }> {
  const out = join(root, "out", `${name}.json`);
  const run = await cna("analyze", "--model", model, "--op", op, "--digits", "1", "--out", out, ...extra);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(run.code, run.stderr).toBe(0);
  const rankings = JSON.parse(readFileSync(out, "utf8")) as Rankings;
  expect(rankingsSchemaErrors(rankings)).toEqual([]);
  expect(rankings.cells).toHaveLength(1);
  expect(readdirSync(join(root, "out")).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  return { cell: rankings.cells[0]!, run };
}

/** docs/method.md §2: every head once, accuracy ascending, then meanProbCorrect, then (layer, head). */
function expectRankedHeads(heads: readonly HeadRank[] | undefined): void {
  expect(heads).toHaveLength(L * H);
  expect(new Set(heads!.map((h) => `${h.layer}.${h.head}`)).size).toBe(L * H);
  for (let i = 1; i < heads!.length; i++) {
    const [a, b] = [heads![i - 1]!, heads![i]!];
    const order =
      a.accuracy - b.accuracy || a.meanProbCorrect - b.meanProbCorrect || a.layer - b.layer || a.head - b.head;
    expect(order, `heads ${i - 1} and ${i}`).toBeLessThan(0);
  }
}

describe("cna analyze", () => {
  it("head-ablation ranks every head and reports progress and a summary", async () => {
    const { cell, run } = await analyze("head-ablation", ["--analysis", "head-ablation"]);
    expect(cell).toMatchObject({ model: "tiny", op: "+", digits: 1, template: 4, cases: CASES_1D_ADD });
    expectRankedHeads(cell.heads);
    expect(cell.neurons).toBeUndefined();
    // stderr is a pipe here: plain lines, one at least at the stage's end.
    expect(run.stderr).toContain(`head-ablation ${CASES_1D_ADD * L * H}/${CASES_1D_ADD * L * H} cases·heads 100%\n`);
    expect(run.stderr).not.toContain("\r");
    const top = cell.heads![0]!;
    expect(run.stderr).toMatch(
      new RegExp(`145 cases, baseline accuracy [\\d.]+%, top head L${top.layer}H${top.head} .*\\d s\\n`),
    );
    expect(run.stderr).toContain(`cna: wrote ${join(root, "out", "head-ablation.json")}\n`);
  });

  it("attribution lists neurons, layers and heads; --quiet silences stderr", async () => {
    const { cell, run } = await analyze("attribution", ["--analysis", "attribution", "--top", "5", "--quiet"]);
    expect(run.stderr).toBe("");
    expect(cell.cases).toBe(CASES_1D_ADD);
    expect(cell.attribution!.topK).toBe(5);
    expect(cell.attribution!.heads).toHaveLength(L * H);
    expect(cell.attribution!.ffnLayers).toHaveLength(L);
    expect(cell.attribution!.neurons[0]!.topTokens).toHaveLength(10);
  });

  it("cna with --head ablates that head and ranks neurons by mean CNA", async () => {
    const { cell } = await analyze("cna", ["--analysis", "cna", "--head", "1.1", "--target", "correct"]);
    expect(cell.ablatedHead).toEqual({ layer: 1, head: 1 });
    expect(cell.heads).toBeUndefined(); // no head ablation when the head is given
    expect(cell.neuronCount).toBe(L * 4 * 8);
    const means = cell.neurons!.map((n) => n.cnaMean);
    expect(means).toEqual([...means].sort((a, b) => b - a));
  });

  it("verify picks the top head and reports 5 K points per variant by default", async () => {
    const { cell } = await analyze("verify", ["--analysis", "verify"]);
    expectRankedHeads(cell.heads);
    expect(cell.ablatedHead).toEqual({ layer: cell.heads![0]!.layer, head: cell.heads![0]!.head });
    for (const variant of ["mask", "keep", "random"] as const) {
      expect(cell.verification![variant].map((p) => p.k)).toEqual([10, 20, 30, 50, 99]);
    }
  });

  it("uses --pairs instead of sampling (for / the first number is the dividend)", async () => {
    const { cell } = await analyze(
      "pairs",
      ["--pairs", join(root, "good-pairs.json"), "--analysis", "verify", "--ks", "10", "--quiet"],
      "/",
    );
    expect(cell).toMatchObject({ op: "/", cases: 3 });
  });

  it("--out - writes the rankings to stdout, the same bytes as the file, with progress on stderr", async () => {
    const args = ["--model", model, "--op", "+", "--digits", "1", "--analysis", "head-ablation"];
    const file = await cna("analyze", ...args, "--out", join(root, "out", "to-file.json"), "--quiet");
    expect(file.code, file.stderr).toBe(0);
    const piped = await cna("analyze", ...args, "--out", "-");
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe(readFileSync(join(root, "out", "to-file.json"), "utf8"));
    expect(piped.stderr).toMatch(/head-ablation \d+\/\d+ cases·heads 100%\n[\s\S]*baseline accuracy/);
    expect(piped.stderr).not.toMatch(/wrote/);
    expect(readdirSync(root)).not.toContain("-");
  });
});

describe("cna help", () => {
  it("prints usage for --help, help analyze and analyze --help", async () => {
    const general = await cna("--help");
    expect(general.code).toBe(0);
    expect(general.stdout).toMatch(/^\s+analyze\s/m);
    for (const args of [
      ["help", "analyze"],
      ["analyze", "--help"],
    ]) {
      const run = await cna(...args);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain("Usage: cna analyze --model DIR");
      expect(run.stdout).toContain("--analysis NAME");
    }
  });
});

describe("cna analyze rejects bad input", () => {
  /** A valid verify run (cheap: one K) with some flags replaced and others added. */
  const base = (over: Record<string, string>, ...extra: string[]) => {
    const flags = { model, op: "+", digits: "1", analysis: "verify", ks: "10", out: join(root, "bad.json"), ...over };
    return ["analyze", ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v]), ...extra];
  };

  it.each<[string, () => string[], number, RegExp]>([
    ["an unknown --op", () => base({ op: "%" }), 2, /--op must be "\+", "-", "\*" or "\/" \(got "%"\)/],
    ["--digits 4", () => base({ digits: "4" }), 2, /--digits must be 1, 2 or 3 .*\(got "4"\)/],
    [
      "a head the model does not have",
      () => base({ head: "9.9" }),
      2,
      /--head L9H9 is out of range: model tiny has 2 layers \(0\.\.1\) and 2 heads per layer \(0\.\.1\)/,
    ],
    [
      "an unknown --analysis",
      () => base({ analysis: "foo" }),
      2,
      /--analysis must be "head-ablation", "attribution", "cna" or "verify" \(got "foo"\)/,
    ],
    ["--top 0", () => base({ top: "0" }), 2, /--top must be an integer greater than 0 \(got "0"\)/],
    ["an unknown flag", () => base({}, "--bogus"), 2, /unknown flag --bogus/],
    [
      "a missing model directory",
      () => base({ model: join(root, "nope") }),
      1,
      /^cna: MODEL_NOT_FOUND: model directory .*nope does not exist/m,
    ],
    [
      "a bert checkpoint",
      () => base({ model: join(root, "bert") }),
      1,
      /^cna: UNSUPPORTED_ARCHITECTURE: unsupported architecture "bert"/m,
    ],
    [
      "--top below the largest K of verify",
      () => base({ top: "5", ks: "10,20" }),
      2,
      /--top 5 is below the largest verification K \(20, from --ks\): verify keeps each case's top 20 CNA neurons/,
    ],
    [
      "a --pairs file with pairs outside --digits",
      () => base({ pairs: join(root, "2d-pairs.json") }),
      1,
      /^cna: BAD_SPEC: .*2d-pairs\.json: pair 1 \(\[12,3\]\) is outside --digits 1 \(both operands must have 1 digit\)/m,
    ],
    [
      "a --pairs file with a non-exact division",
      () => base({ op: "/", pairs: join(root, "bad-pairs.json") }),
      1,
      /^cna: BAD_SPEC: .*bad-pairs\.json: pair 1 \(\[7,2\]\) is not an exact division/m,
    ],
  ])("%s", async (_, args, code, message) => {
    const run = await cna(...args());
    expect(run.code, run.stderr).toBe(code);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/^\s+at /m); // a CnaError or usage error never prints a stack
    expect(readdirSync(root)).not.toContain("bad.json");
  });
});
