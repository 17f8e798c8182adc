/**
 * The report as a reader uses it, in headless Chromium (offline, fresh profile): the table script
 * runs under the page's CSP (no error, nothing fetched); clicking a column header reorders the
 * rows by their data-value, typing in a table's filter box hides the rows that do not match; at
 * 800 px wide the summary table fits without horizontal overflow; a failed sweep's banner is at
 * the top; the three marks of each depth-strip row are apart on screen.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderReport } from "../../report/index.ts";
import type { ReportProvenance } from "../../report/index.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { fullCell, rankedHeads, rankings } from "../helpers/report-cells.ts";

// the zoo's longest model names, so the summary is as wide as a demo's
const cells = [
  fullCell("arith-qwen2-4l-d64", "+", 4, 4, [2, 3]),
  fullCell("arith-qwen2-4l-d64", "-", 4, 4, [1, 0]),
  fullCell("arith-llama-3l-d96", "*", 3, 4, [2, 2]),
];
// every top head in one layer: the depth marks would coincide without dodging
cells[2]!.heads = rankedHeads(3, 4, (l, h) => (l === 2 ? 0.6 - 0.1 * h : 0.01 * h));
// a caution mark beside a top head widens its summary cell, as in a demo
cells[1]!.headRankingBasis = "within-noise";
const R = rankings(cells);
const FAILED: ReportProvenance = {
  name: "zoo-browser",
  state: "failed",
  cells: { planned: 4, done: 3, failed: 1 },
  quarantined: [
    {
      shardId: "s-0001",
      cell: "arith-llama-3l-d96 / 1D t4",
      stage: "head-ablation",
      reason: "UNSUPPORTED_ARCHITECTURE",
    },
  ],
};

describe.skipIf(chromiumPrereq.skip)("the report's tables and layout in headless Chromium", () => {
  let root: string;
  let context: BrowserContext;
  let url: string;

  beforeAll(async () => {
    chromiumPrereq.assert();
    root = mkdtempSync(join(tmpdir(), "cna-report-ui-"));
    writeFileSync(join(root, "report.html"), renderReport(R, FAILED));
    url = pathToFileURL(join(root, "report.html")).href;
    context = await launchChromium(join(root, "profile"));
  }, 60_000);
  afterAll(async () => {
    await context?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** Opens the report at `width` px, failing on any console error or request off the file. */
  async function open(width: number): Promise<{ page: Page; errors: string[]; requests: string[] }> {
    const page = await context.newPage();
    await page.setViewportSize({ width, height: 900 });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") errors.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(url, { waitUntil: "load" });
    return { page, errors, requests };
  }

  it("sorts a table by the clicked column's data-value, and filters rows by the text typed", async () => {
    const { page, errors, requests } = await open(1200);
    const table = page.locator("#cell-0 table.heads");
    const relDrops = () =>
      table
        .locator("tbody tr:not([hidden]) td:nth-child(6) [data-value]")
        .evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-value"))));
    const before = await relDrops();
    expect(before).toHaveLength(10);
    // click "P(correct)", then "rel. drop" twice: largest first, then smallest first
    await table.locator("thead th", { hasText: "P(correct)" }).click();
    await table.locator("thead th", { hasText: "rel. drop" }).click();
    const desc = await relDrops();
    expect(desc).toEqual([...before].sort((a, b) => b - a));
    expect(await table.locator("thead th", { hasText: "rel. drop" }).getAttribute("aria-sort")).toBe("descending");
    await table.locator("thead th", { hasText: "rel. drop" }).click();
    expect(await relDrops()).toEqual([...before].sort((a, b) => a - b));

    // the filter box sits just before its table; "L3H" keeps only layer-3 heads
    const filter = page.locator("#cell-0 input.table-filter").first();
    await filter.fill("L3H");
    const shown = await table.locator("tbody tr:not([hidden]) td.id").allInnerTexts();
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.length).toBeLessThan(10);
    for (const name of shown) expect(name).toMatch(/^L3H\d+$/);
    expect(await table.locator("tbody tr[hidden]").count()).toBe(10 - shown.length);
    await filter.fill("");
    expect(await table.locator("tbody tr[hidden]").count()).toBe(0);

    // the neuron table sorts on its CNA column the same way
    const neurons = page.locator("#cell-0 table.neurons");
    await neurons.locator("thead th", { hasText: "CNA" }).click();
    await neurons.locator("thead th", { hasText: "CNA" }).click();
    const cna = await neurons
      .locator("tbody tr td:nth-child(3) [data-value]")
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-value"))));
    expect(cna).toEqual([...cna].sort((a, b) => a - b));
    expect(cna[0]).toBeLessThan(cna[cna.length - 1]!);

    expect(errors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith("file:") && !u.startsWith("data:"))).toEqual([]);
    await page.close();
  }, 60_000);

  it("fits the summary table in an 800 px window, shows the failure banner at the top, dodges depth marks", async () => {
    const { page, errors } = await open(800);
    const fit = await page.$eval("table.summary", (t) => {
      const box = t.getBoundingClientRect();
      return {
        right: box.right,
        left: box.left,
        viewport: t.ownerDocument.documentElement.clientWidth,
        pageScroll: t.ownerDocument.documentElement.scrollWidth - t.ownerDocument.documentElement.clientWidth,
        tableScroll: t.scrollWidth - t.clientWidth,
      };
    });
    expect(fit.left).toBeGreaterThanOrEqual(0);
    expect(fit.right, JSON.stringify(fit)).toBeLessThanOrEqual(fit.viewport);
    expect(fit.tableScroll).toBeLessThanOrEqual(0);
    expect(fit.pageScroll, "nothing on the page overflows").toBeLessThanOrEqual(0);

    const banner = page.locator("#sweep-status");
    expect(await banner.isVisible()).toBe(true);
    const [bannerTop, summaryTop] = await Promise.all([
      banner.evaluate((e) => e.getBoundingClientRect().top),
      page.locator("#summary").evaluate((e) => e.getBoundingClientRect().top),
    ]);
    expect(bannerTop).toBeLessThan(summaryTop);
    const text = await banner.innerText();
    expect(text).toContain("1 cell of 4 planned is missing");
    expect(text).toContain("arith-llama-3l-d96 / 1D t4");
    expect(text).toContain("UNSUPPORTED_ARCHITECTURE");

    // on screen, no two marks of a row overlap
    const rows = await page.$$eval("g.depth-row", (gs) =>
      gs.map((g) =>
        [...g.querySelectorAll("circle.depth-mark")].map((c) => {
          const r = c.getBoundingClientRect();
          return { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
        }),
      ),
    );
    expect(rows.length).toBe(3);
    for (const marks of rows) {
      expect(marks).toHaveLength(3);
      for (let i = 0; i < marks.length; i++)
        for (let j = i + 1; j < marks.length; j++) {
          const a = marks[i]!;
          const b = marks[j]!;
          const apart = a.bottom <= b.top || b.bottom <= a.top || a.right <= b.left || b.right <= a.left;
          expect(apart, JSON.stringify([a, b])).toBe(true);
        }
    }
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
