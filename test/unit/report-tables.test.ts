/**
 * The report's head and neuron tables: each cell lists its top heads by ablation beside the
 * heatmap, and the head, neuron and summary tables are marked for the page's sort-and-filter
 * script (which test/integration/report-browser.test.ts drives in Chromium).
 */
import { describe, expect, it } from "vitest";
import { renderReport } from "../../report/index.ts";
import { fullCell, rankings } from "../helpers/report-cells.ts";

describe("report tables", () => {
  const r = rankings([fullCell("m", "+", 4, 4, [2, 3])]);
  const html = renderReport(r);

  it("lists a cell's top 10 heads in rank order with their numbers and pointers", () => {
    const table = /<table class="numbers heads sortable">.*?<\/table>/s.exec(html)?.[0] ?? "";
    const names = [...table.matchAll(/<td class="id">(L\d+H\d+)<\/td>/g)].map((m) => m[1]);
    expect(names).toHaveLength(10);
    expect(names).toEqual(r.cells[0]!.heads!.slice(0, 10).map((h) => `L${h.layer}H${h.head}`));
    expect(names[0]).toBe("L2H3");
    for (const f of ["accuracy", "accuracyDrop", "relativeDrop", "meanProbCorrect"])
      expect(table).toContain(`data-path="/cells/0/heads/9/${f}"`);
    expect(table).toContain("Top 10 of 16 heads");
  });

  it("marks the summary, head and neuron tables sortable, and no other", () => {
    const sortable = [...html.matchAll(/<table class="([^"]*\bsortable\b[^"]*)"/g)].map((m) => m[1]);
    expect(sortable).toEqual(["numbers summary sortable", "numbers heads sortable", "numbers neurons sortable"]);
  });
});
