/**
 * The top of the report: the page is titled with the sweep's name, and a failed, cancelled or
 * running sweep's report opens with a banner saying how many cells are missing, which cells lack
 * a later stage, and which shards were quarantined and why (from provenance: the planned cell
 * count and the quarantine records).
 */
import { describe, expect, it } from "vitest";
import { parseProvenance, renderReport } from "../../report/index.ts";
import type { ReportProvenance } from "../../report/index.ts";
import { fullCell, rankings } from "../helpers/report-cells.ts";

const banner = (html: string) => /<div class="banner[^"]*" id="sweep-status".*?<\/div>/s.exec(html)?.[0];

describe("report title", () => {
  const r = rankings([fullCell("m", "+", 2, 2, [0, 1])]);

  it("is the sweep's name from the provenance, in <title> and <h1>", () => {
    const html = renderReport(r, { name: "zoo-quick", sweepFile: "/runs/out-7/sweep.yaml" });
    expect(html).toContain("<title>zoo-quick</title>");
    expect(html).toMatch(/<h1>zoo-quick<\/h1>/);
    expect(html).not.toContain("out-7</title>");
  });

  it("takes an explicit title over the name, and a default without either", () => {
    expect(renderReport(r, { name: "zoo-quick" }, { title: "T" })).toContain("<title>T</title>");
    expect(renderReport(r)).toContain("<title>cna-sweep report</title>");
  });
});

describe("sweep status banner", () => {
  const ok = fullCell("m", "+", 2, 2, [0, 1]);
  // a cell whose verify stage was quarantined: heads and neurons, no curves
  const noVerify = { ...fullCell("m", "*", 2, 2, [1, 1]) };
  delete noVerify.verification;
  const r = rankings([ok, noVerify]);
  const failed: ReportProvenance = {
    name: "zoo",
    state: "failed",
    cells: { planned: 4, done: 1, failed: 3 },
    quarantined: [
      { shardId: "s-aaa", cell: "m - 1D t4", stage: "head-ablation", reason: "UNSUPPORTED_ARCHITECTURE: <no-such>" },
      { shardId: "s-bbb", cell: "m * 1D t4", stage: "verify", reason: "ONNX_RUN_FAILED: out of memory" },
      { shardId: "s-ccc", cell: "m / 1D t4", stage: "head-ablation", reason: "UNSUPPORTED_ARCHITECTURE: x" },
      { shardId: "s-ddd", cell: "m - 1D t4", stage: "head-ablation", reason: "UNSUPPORTED_ARCHITECTURE: <no-such>" },
    ],
  };

  it("counts the missing cells, names them, and lists the quarantined shards by cell, stage and reason", () => {
    const html = renderReport(r, failed);
    const b = banner(html)!;
    expect(b).toBeDefined();
    // at the top: before the summary
    expect(html.indexOf(b)).toBeLessThan(html.indexOf('id="summary"'));
    expect(b).toContain('data-state="failed" data-missing="2" data-quarantined="4"');
    expect(b).toContain("This sweep failed");
    expect(b).toMatch(
      /2 cells of 4 planned are missing from the rankings \(<span class="id">m - 1D t4<\/span>, <span class="id">m \/ 1D t4<\/span>\)/,
    );
    expect(b).toMatch(/1 cell lacks a later stage \(<span class="id">m \* 1D t4<\/span>\)/);
    const rows = [
      ...b.matchAll(
        /<tr data-shards="(\d+)"><td class="l id cell">([^<]+)<\/td><td class="l">([^<]+)<\/td><td class="l">([^<]+)<\/td><td class="l"><details><summary>[^<]*<\/summary>(.*?)<\/details><\/td><td class="l reason">([^<]+)<\/td><\/tr>/g,
      ),
    ].map((m) => [m[1], m[2], m[3], m[4], [...m[5]!.matchAll(/<code class="id">([^<]+)</g)].map((x) => x[1]), m[6]]);
    expect(rows).toEqual([
      [
        "2",
        "m - 1D t4",
        "head-ablation",
        "cell missing",
        ["s-aaa", "s-ddd"],
        "UNSUPPORTED_ARCHITECTURE: &lt;no-such&gt;",
      ],
      ["1", "m * 1D t4", "verify", "cell incomplete", ["s-bbb"], "ONNX_RUN_FAILED: out of memory"],
      ["1", "m / 1D t4", "head-ablation", "cell missing", ["s-ccc"], "UNSUPPORTED_ARCHITECTURE: x"],
    ]);
    expect(b).toContain("4 shards quarantined");
  });

  it("counts cells that never ran (a cancelled sweep) beyond those a quarantine names", () => {
    const b = banner(renderReport(rankings([ok]), { state: "cancelled", cells: { planned: 5, done: 1, failed: 0 } }))!;
    expect(b).toContain("This sweep was cancelled");
    expect(b).toContain('data-missing="4" data-quarantined="0"');
    expect(b).toContain("4 cells of 5 planned are missing from the rankings");
  });

  it("says a running sweep is partial without calling unfinished cells missing", () => {
    const running = banner(
      renderReport(rankings([ok]), { state: "running", cells: { planned: 4, done: 1, failed: 0 } }),
    )!;
    expect(running).toContain("these rankings are partial and will change");
    expect(running).not.toContain("missing");
    const lost = banner(renderReport(r, { ...failed, state: "running" }, { partial: true }))!;
    expect(lost).toContain("has already lost work");
    expect(lost).toContain('data-missing="2"');
  });

  it("shows no banner for a sweep that finished every planned cell", () => {
    const html = renderReport(r, { state: "succeeded", cells: { planned: 2, done: 2, failed: 0 }, quarantined: [] });
    expect(banner(html)).toBeUndefined();
    expect(banner(renderReport(r))).toBeUndefined();
  });

  it("reads the name and cell counts from provenance.json, naming a bad field", () => {
    expect(parseProvenance({ name: "zoo", cells: { planned: 4, done: 1, failed: 3 } }, "p.json").cells?.planned).toBe(
      4,
    );
    expect(() => parseProvenance({ cells: { planned: "4", done: 1, failed: 3 } }, "p.json")).toThrow(
      /p\.json: cells\.planned: expected a number/,
    );
    expect(() => parseProvenance({ name: 3 }, "p.json")).toThrow(/p\.json: name: expected a string/);
  });
});
