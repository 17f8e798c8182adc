/**
 * `cna rankings FILE`: a local rankings.json as tidy tables. CSV (RFC 4180) read back — by a
 * reader written here and by Python's csv module — gives the rankings' own numbers; tokens with
 * commas, quotes and line breaks survive; JSONL lines parse; JSON is the file unchanged; a missing
 * file and a file that is not rankings give named errors that do not quote the file.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Rankings } from "../../core/index.ts";
import { main } from "../../cli/main.ts";
import { csvField } from "../../cli/rankings-export.ts";
import { nearestK } from "../../cli/rankings-rows.ts";
import { nextSteps, shellWord, summaryTable } from "../../cli/run-summary.ts";
import { demoLikeRankings, TRICKY_TOKENS } from "../helpers/rankings-fixture.ts";
import { rankingsSchemaErrors } from "../helpers/rankings-schema.ts";
import { prerequisite, PYTHON } from "../helpers/prereq.ts";

/** RFC 4180: fields split on commas, records on CRLF, quoted fields may hold both and "" for a quote. */
function readCsv(text: string): string[][] {
  const records: string[][] = [];
  let fields: string[] = [];
  let field = "";
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error("unterminated quoted field");
        if (text[i] === '"' && text[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (text[i] === '"') {
          i++;
          break;
        } else field += text[i++];
      }
    } else if (text[i] === ",") {
      fields.push(field);
      field = "";
      i++;
    } else if (text.startsWith("\r\n", i)) {
      fields.push(field);
      records.push(fields);
      fields = [];
      field = "";
      i += 2;
    } else if (text[i] === '"' || text[i] === "\n" || text[i] === "\r") {
      throw new Error(`bare ${JSON.stringify(text[i])} at ${i}`);
    } else field += text[i++];
  }
  if (field !== "" || fields.length > 0) throw new Error("last record not terminated by CRLF");
  return records;
}

/** Records as objects keyed by the header. */
const asObjects = (records: string[][]) =>
  records.slice(1).map((r) => Object.fromEntries(records[0]!.map((name, i) => [name, r[i]!])));

async function cna(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
  });
  return { code, stdout, stderr };
}

const python = prerequisite("python3", () =>
  existsSync(PYTHON) ? null : `${PYTHON} not found (apt-get install python3)`,
);

describe("cna rankings FILE", () => {
  const rankings: Rankings = demoLikeRankings();
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cna-rankings-"));
    file = join(dir, "rankings.json");
    writeFileSync(file, `${JSON.stringify(rankings, null, 2)}\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("uses a fixture that is valid rankings", () => {
    expect(rankingsSchemaErrors(rankings)).toEqual([]);
  });

  it("writes head rows whose numbers read back exactly, with the cell key on every row", async () => {
    const r = await cna("rankings", file, "--kind", "heads", "--format", "csv");
    expect(r.code, r.stderr).toBe(0);
    const rows = asObjects(readCsv(r.stdout));
    const expected = rankings.cells.flatMap((c) => c.heads!.map((h, i) => ({ c, h, rank: i + 1 })));
    expect(rows).toHaveLength(expected.length);
    rows.forEach((row, i) => {
      const { c, h, rank } = expected[i]!;
      expect([row.model, row.op, row.digits, row.template]).toEqual([c.model, c.op, String(c.digits), "4"]);
      expect(row.name).toBe(`L${h.layer}H${h.head}`);
      expect(Number(row.rank)).toBe(rank);
      expect(Number(row.accuracy)).toBe(h.accuracy);
      expect(Number(row.relativeDrop)).toBe(h.relativeDrop);
      expect(Number(row.meanProbCorrect)).toBe(h.meanProbCorrect);
      expect(row.headBasis).toBe(c.headRankingBasis);
    });
  });

  it("writes neuron rows whose scores and tokens read back exactly, a comma, quote and line break included", async () => {
    const r = await cna("rankings", file, "--kind", "neurons", "--format", "csv");
    expect(r.code, r.stderr).toBe(0);
    const rows = asObjects(readCsv(r.stdout));
    const expected = rankings.cells.flatMap((c) => c.neurons!.map((n) => ({ c, n })));
    expect(rows).toHaveLength(expected.length);
    rows.forEach((row, i) => {
      const { c, n } = expected[i]!;
      expect(row.ablatedHead).toBe(`L${c.ablatedHead!.layer}H${c.ablatedHead!.head}`);
      expect(row.name).toBe(`L${n.layer}N${n.neuron}`);
      expect(Number(row.cnaMean)).toBe(n.cnaMean);
      expect(Number(row.impAblatedMean)).toBe(n.impAblatedMean);
      expect(Number(row.sigma)).toBe(n.topTokensSign);
      expect(JSON.parse(row.topTokens!)).toEqual(n.topTokens);
    });
    expect(JSON.parse(rows[0]!.topTokens!)).toEqual(TRICKY_TOKENS);
  });

  it("quotes a field with a comma, a quote or a line break, and leaves others bare", () => {
    for (const text of ["a,b", 'say "hi"', "two\nlines", "cr\r\nlf", "plain", " 7"])
      expect(readCsv(`${csvField(text)},${csvField(1.5)}\r\n`)).toEqual([[text, "1.5"]]);
    expect([csvField("plain"), csvField(null), csvField(-0.25)]).toEqual(["plain", "", "-0.25"]);
  });

  it("writes verification rows per K and condition, and one summary row per cell at K = 10", async () => {
    const v = asObjects(readCsv((await cna("rankings", file, "--kind", "verification", "--format", "csv")).stdout));
    const c0 = rankings.cells[0]!.verification!;
    expect(v).toHaveLength(rankings.cells.length * c0.mask.length * 3);
    expect(v.slice(0, 3).map((r) => [r.k, r.condition, Number(r.relativeDecrease)])).toEqual([
      ["10", "mask", c0.mask[0]!.relativeDecrease],
      ["10", "keep", c0.keep[0]!.relativeDecrease],
      ["10", "random", c0.random[0]!.relativeDecrease],
    ]);
    const s = asObjects(readCsv((await cna("rankings", dir, "--format", "csv")).stdout));
    expect(s.map((r) => [r.model, r.op, r.topHead, Number(r.maskDecrease), Number(r.randomDecrease)])).toEqual(
      rankings.cells.map((c) => [
        c.model,
        c.op,
        `L${c.heads![0]!.layer}H${c.heads![0]!.head}`,
        c.verification!.mask[0]!.relativeDecrease,
        c.verification!.random[0]!.relativeDecrease,
      ]),
    );
    expect([nearestK([{ k: 5 }, { k: 20 }] as never), nearestK([{ k: 20 }, { k: 30 }] as never)]).toEqual([5, 20]);
  });

  it.skipIf(python.skip)("reads back the same with Python's csv module", async () => {
    python.assert();
    const csv = (await cna("rankings", file, "--kind", "neurons", "--format", "csv")).stdout;
    const py = spawnSync(
      PYTHON,
      [
        "-c",
        "import csv, io, json, sys; print(json.dumps(list(csv.DictReader(io.StringIO(sys.stdin.read(), newline='')))))",
      ],
      { input: csv, encoding: "utf8" },
    );
    expect(py.status, py.stderr).toBe(0);
    expect(JSON.parse(py.stdout)).toEqual(asObjects(readCsv(csv)));
  });

  it("writes JSON Lines that parse, with tokens as lists and absent values as null", async () => {
    const r = await cna("rankings", file, "--kind", "neurons", "--format", "jsonl", "--top", "1");
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(rankings.cells.length);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({ model: "arith-2l-d64", op: "+", rank: 1, topTokens: TRICKY_TOKENS });
    expect(first.cnaMean).toBe(rankings.cells[0]!.neurons![0]!.cnaMean);
    const summary = JSON.parse((await cna("rankings", file, "--format", "jsonl")).stdout.split("\n")[0]!) as object;
    expect(Object.keys(summary)).toContain("topNeuron");
  });

  it("prints the file unchanged as json, and writes --out FILE instead of stdout", async () => {
    expect((await cna("rankings", file, "--format", "json")).stdout).toBe(readFileSync(file, "utf8"));
    const out = join(dir, "sub", "heads.csv");
    const r = await cna("rankings", dir, "--kind", "heads", "--format", "csv", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    expect(readFileSync(out, "utf8")).toBe(
      (await cna("rankings", file, "--kind", "heads", "--format", "csv", "--out", "-")).stdout,
    );
  });

  it("names a missing file and a file that is not rankings, without quoting its contents", async () => {
    const missing = await cna("rankings", join(dir, "nope", "rankings.json"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^cna: RANKINGS_NOT_FOUND: \S+nope\/rankings\.json: no such file/);
    const emptyDir = mkdtempSync(join(dir, "empty-"));
    expect((await cna("rankings", emptyDir)).stderr).toMatch(/RANKINGS_NOT_FOUND: \S+empty-\w+\/rankings\.json/);

    const notJson = join(dir, "notes.json");
    writeFileSync(notJson, "secret-text-1234 is not json");
    const a = await cna("rankings", notJson);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/BAD_RANKINGS_FILE: \S+notes\.json: not a rankings file: not JSON/);
    expect(a.stderr).not.toContain("secret-text");

    const other = join(dir, "other.json");
    writeFileSync(other, JSON.stringify({ schema: "secret-schema-5678", cells: [] }));
    const b = await cna("rankings", other, "--format", "csv");
    expect(b.stderr).toMatch(/BAD_RANKINGS_FILE: \S+other\.json: not a rankings file: its "schema" is not/);
    expect(b.stderr).not.toContain("secret-schema");

    const badCell = join(dir, "bad-cell.json");
    writeFileSync(badCell, JSON.stringify({ ...rankings, cells: [{ ...rankings.cells[0], heads: "x" }] }));
    expect((await cna("rankings", badCell)).stderr).toMatch(
      /BAD_RANKINGS_FILE: \S+bad-cell\.json: not a rankings file: cells\[0\]\.heads: expected an array/,
    );
    expect((await cna("rankings", file, "--kind", "chains")).code).toBe(2);
  });
});

describe("the summary after a run", () => {
  it("has one row per cell: baseline, top head and drop, top neuron, mask and random at K = 10", () => {
    const lines = summaryTable(demoLikeRankings()).split("\n");
    expect(lines[0]!.split(/\s{2,}/)).toEqual([
      "model",
      "op",
      "D",
      "t",
      "base",
      "head",
      "drop",
      "neuron",
      "K",
      "mask",
      "random",
    ]);
    expect(lines.slice(2, 6).map((l) => l.split(/\s+/))).toEqual([
      ["arith-2l-d64", "+", "1", "4", "98.0%", "L0H1", "64.3%", "L1N100", "10", "40.0%", "1.0%"],
      ["arith-2l-d64", "-", "1", "4", "87.5%", "L0H1", "72.0%", "L1N100", "10", "40.0%", "1.0%"],
      ["arith-qwen2-4l-d64", "+", "1", "4", "99.0%", "L0H1", "63.6%", "L1N100", "10", "40.0%", "1.0%"],
      // a 0 % baseline: the top head is the tie-break, marked and explained below
      ["arith-qwen2-4l-d64", "*", "1", "4", "0.0%", "L0H0*", "0.0%", "L1N100", "10", "40.0%", "1.0%"],
    ]);
    expect(lines[6]).toMatch(/^\* not a finding \(headBasis\): ablating the head turns fewer than 6 cases wrong$/);
    expect(lines).toHaveLength(7);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(80);
  });

  it("names the files and the commands that show the rest", () => {
    const steps = nextSteps("/home/u/cna-out/zoo", "/home/u").join("\n");
    expect(steps).toContain(
      "cna: wrote cna-out/zoo/rankings.json, cna-out/zoo/provenance.json and cna-out/zoo/report.html",
    );
    expect(steps).toContain("cna rankings cna-out/zoo --kind heads");
    expect(steps).toContain("cna rankings cna-out/zoo --kind neurons --format csv > neurons.csv");
    expect(nextSteps("/data/zoo", "/home/u")[0]).toContain("/data/zoo/rankings.json");
  });
});

describe("printed commands", () => {
  it("quote a directory the shell would split", () => {
    expect(nextSteps("/home/u/my runs/it's", "/home/u")[2]).toBe(
      `  cna rankings 'my runs/it'\\''s' --kind heads  # every head of every cell; also neurons, attribution, verification`,
    );
    const echoed = spawnSync("/bin/sh", ["-c", `printf %s ${shellWord("a b'c$HOME")}`], { encoding: "utf8" });
    expect(echoed.stdout).toBe("a b'c$HOME");
  });
});
