/**
 * `cna report`: offline from rankings.json (with provenance.json beside it), from a coordinator
 * over gRPC (GetRankings + GetSweep, bearer token), and its usage and input errors.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RANKINGS_SCHEMA } from "../../core/index.ts";
import type { Rankings } from "../../core/index.ts";
import { startSweepServer } from "../../coordinator/grpc/index.ts";
import type { SweepServer } from "../../coordinator/grpc/index.ts";
import { main } from "../../cli/index.ts";
import { parseProvenance, renderReport } from "../../report/index.ts";
import { FakeSweepBackend } from "../helpers/grpc-backend.ts";
import { runCli } from "../helpers/cli.ts";

const RANKINGS: Rankings = {
  schema: RANKINGS_SCHEMA,
  cells: [
    {
      model: "m",
      op: "+",
      digits: 1,
      template: 4,
      cases: 10,
      baselineAccuracy: 0.5,
      heads: [
        { layer: 1, head: 0, accuracy: 0.1, accuracyDrop: 0.4, relativeDrop: 0.8, meanProbCorrect: 0.1 },
        { layer: 0, head: 0, accuracy: 0.5, accuracyDrop: 0, relativeDrop: 0, meanProbCorrect: 0.4 },
      ],
    },
  ],
};
const PROVENANCE = {
  sweep: "name: tiny\n",
  workers: 2,
  provider: "cpu",
  shards: [{ stage: "head-ablation", total: 2, stored: 2, quarantined: 0 }],
  redeliveries: 1,
};

/** Serves RANKINGS for every sweep it knows. */
class RankedBackend extends FakeSweepBackend {
  override rankings(id: string): { json: string; final: boolean } {
    const { final } = super.rankings(id);
    return { json: JSON.stringify(RANKINGS), final };
  }
}

describe("cna report", () => {
  let root: string;
  const at = (path: string) => join(root, path);
  /** `cna ARGS` in this process (faster than the bin, which the first tests run as a child). */
  const cna = async (args: string[]) => {
    let stdout = "";
    let stderr = "";
    const code = await main(args, {
      stdout: { write: (t: string) => (stdout += t) },
      stderr: { write: (t: string) => (stderr += t) },
    });
    return { code, stdout, stderr };
  };
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "cna-report-cli-"));
    mkdirSync(join(root, "run"));
    writeFileSync(join(root, "run", "rankings.json"), JSON.stringify(RANKINGS));
    writeFileSync(join(root, "run", "provenance.json"), JSON.stringify(PROVENANCE));
    mkdirSync(join(root, "bare"));
    writeFileSync(join(root, "bare", "rankings.json"), JSON.stringify(RANKINGS));
    writeFileSync(join(root, "v2.json"), JSON.stringify({ ...RANKINGS, schema: "cna-sweep/rankings@2" }));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("renders offline from rankings.json, with provenance.json beside it when present", async () => {
    const r = await runCli(root, ["report", "--rankings", "run/rankings.json", "-o", "out/a.html", "--title", "T"]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(root, "out", "a.html"), "utf8")).toBe(
      renderReport(RANKINGS, parseProvenance(PROVENANCE, "p"), { title: "T" }),
    );
    const bare = await cna(["report", "--rankings", at("bare/rankings.json"), "--out", at("b.html")]);
    expect(bare.code, bare.stderr).toBe(0);
    const html = readFileSync(join(root, "b.html"), "utf8");
    expect(html).toContain("<title>cna-sweep report: bare</title>");
    expect(html).toContain("No provenance was given");
    // with the sweep's name in provenance.json, the page is titled with it, not with its folder
    mkdirSync(join(root, "out-folder"));
    writeFileSync(join(root, "out-folder", "rankings.json"), JSON.stringify(RANKINGS));
    writeFileSync(join(root, "out-folder", "provenance.json"), JSON.stringify({ ...PROVENANCE, name: "tiny" }));
    const named = await cna(["report", "--rankings", at("out-folder/rankings.json"), "--out", at("n.html")]);
    expect(named.code, named.stderr).toBe(0);
    const namedHtml = readFileSync(join(root, "n.html"), "utf8");
    expect(namedHtml).toContain("<title>tiny</title>");
    expect(namedHtml).toContain("<h1>tiny</h1>");
  });

  it("-o - writes the report to stdout and nothing to a file", async () => {
    const r = await cna(["report", "--rankings", at("run/rankings.json"), "-o", "-", "--title", "T"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(renderReport(RANKINGS, parseProvenance(PROVENANCE, "p"), { title: "T" }));
    expect(r.stderr).toBe("");
    expect(readdirSync(process.cwd())).not.toContain("-");
  });

  it("fetches rankings and sweep state from a coordinator, with the bearer token", async () => {
    const backend = new RankedBackend();
    const server: SweepServer = await startSweepServer({ backend, port: 0, token: "tok-1-report-cli-0123" });
    try {
      const sweep = await backend.submit("name: tiny\n", "test");
      writeFileSync(join(root, "token"), "tok-1-report-cli-0123\n");
      const running = await cna([
        "report",
        sweep.sweepId,
        "-o",
        at("c.html"),
        "--coordinator",
        server.address,
        "--token-file",
        at("token"),
      ]);
      expect(running.code, running.stderr).toBe(0);
      expect(running.stderr).toMatch(/has not finished; the report shows partial rankings/);
      const html = readFileSync(join(root, "c.html"), "utf8");
      expect(html).toContain("these rankings are partial");
      expect(html).toContain("<title>tiny</title>");
      expect(html).toContain(`<span class="id">${sweep.sweepId}</span> (running)`);
      expect(html).toMatch(/data-path="\/cells\/0\/heads\/0\/relativeDrop">80\.0%</);
      expect(backend.calls).toEqual(expect.arrayContaining(["rankings", "get"]));

      backend.update(sweep.sweepId, { state: "SUCCEEDED" });
      const done = await cna([
        "report",
        sweep.sweepId,
        "-o",
        at("d.html"),
        "--coordinator",
        server.address,
        "--token-file",
        at("token"),
      ]);
      expect(done.code, done.stderr).toBe(0);
      expect(readFileSync(join(root, "d.html"), "utf8")).not.toContain("these rankings are partial");

      const { CNA_TOKEN: _unset, ...noTokenEnv } = process.env;
      const noToken = await runCli(
        root,
        ["report", sweep.sweepId, "-o", "e.html", "--coordinator", server.address],
        noTokenEnv,
      );
      expect(noToken.code).toBe(1);
      expect(noToken.stderr).toMatch(/^cna: UNAUTHENTICATED/m);
      const unknown = await cna([
        "report",
        "no-such-sweep",
        "-o",
        at("e.html"),
        "--coordinator",
        server.address,
        "--token-file",
        at("token"),
      ]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/no-such-sweep/);
    } finally {
      await server.close();
    }
  });

  it("answers usage mistakes with exit 2 and bad inputs with exit 1, naming the problem", async () => {
    const noId = await cna(["report", "-o", at("x.html")]);
    expect([noId.code, noId.stderr]).toEqual([2, expect.stringMatching(/missing ID: .*--rankings FILE/)]);
    const noOut = await cna(["report", "sweep-1"]);
    expect([noOut.code, noOut.stderr]).toEqual([2, expect.stringMatching(/missing --out FILE\.html/)]);
    const both = await cna([
      "report",
      "--rankings",
      at("run/rankings.json"),
      "--coordinator",
      "127.0.0.1:1",
      "-o",
      at("x.html"),
    ]);
    expect([both.code, both.stderr]).toEqual([
      2,
      expect.stringMatching(/--coordinator and --rankings exclude each other/),
    ]);
    const v2 = await cna(["report", "--rankings", at("v2.json"), "-o", at("x.html")]);
    expect([v2.code, v2.stderr]).toEqual([
      1,
      expect.stringMatching(/^cna: BAD_REPORT_INPUT: \S*v2\.json: schema: expected "cna-sweep\/rankings@1"/m),
    ]);
    const missing = await cna(["report", "--rankings", at("nope/rankings.json"), "-o", at("x.html")]);
    expect([missing.code, missing.stderr]).toEqual([
      1,
      expect.stringMatching(/BAD_REPORT_INPUT: \S*nope\/rankings\.json: cannot read/),
    ]);
  });
});
