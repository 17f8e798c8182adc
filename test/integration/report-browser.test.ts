/**
 * The report as a reader sees it: `cna run` on a small two-model sweep over tiny checkpoints
 * writes OUT/report.html; headless Chromium opens it offline and we check that nothing errs or
 * loads from outside, every heatmap is drawn (a visible, filled rect per head), the curves are
 * drawn, and every number on the page (data-value) equals its value in rankings.json or
 * provenance.json, or its recomputation from them. Saves a screenshot to test/artifacts/report.png.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Rankings } from "../../core/index.ts";
import {
  FORMATS,
  dominance,
  modelLayers,
  parseProvenance,
  relativeDepth,
  renderReport,
  sharedHeads,
} from "../../report/index.ts";
import type { NumberFormat } from "../../report/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";
import { runCli } from "../helpers/cli.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";

const ARTIFACTS = join(import.meta.dirname, "..", "artifacts");

const SWEEP = `name: report-demo
models:
  - path: tiny-2l
  - path: tiny-3l
operators: ["+", "-"]
digits: [1]
stages: [head-ablation, cna, verify]
cna: { topK: 10 }
verify: { ks: [2, 5, 10] }
shard: { pairs: 50 }
`;

/** One number element of the page, as read in the browser. */
interface PageNumber {
  value: string;
  format: string | null;
  path: string | null;
  derived: string | null;
  provenancePath: string | null;
  text: string;
  model: string | null;
  layer: string | null;
  head: string | null;
}

function resolvePointer(doc: unknown, pointer: string): unknown {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce<unknown>((node, key) => (node === undefined ? undefined : (node as Record<string, unknown>)[key]), doc);
}

describe.skipIf(chromiumPrereq.skip)("the HTML report in headless Chromium", () => {
  let root: string;
  let out: string;
  let rankings: Rankings;
  let provenance: unknown;

  beforeAll(async () => {
    chromiumPrereq.assert();
    root = mkdtempSync(join(tmpdir(), "cna-report-"));
    writeGpt2Checkpoint(join(root, "tiny-2l"), { nLayer: 2, nHead: 2, nEmbd: 16, seed: 3 });
    writeGpt2Checkpoint(join(root, "tiny-3l"), { nLayer: 3, nHead: 4, nEmbd: 16, seed: 5 });
    writeFileSync(join(root, "sweep.yaml"), SWEEP);
    const run = await runCli(root, ["run", "sweep.yaml", "--out", "out", "--workers", "2", "--quiet"]);
    expect(run.code, run.stderr).toBe(0);
    out = join(root, "out");
    rankings = JSON.parse(readFileSync(join(out, "rankings.json"), "utf8")) as Rankings;
    provenance = JSON.parse(readFileSync(join(out, "provenance.json"), "utf8"));
  }, 300_000);
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("cna run writes report.html, the renderer's output for its rankings and provenance", () => {
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).toBe(renderReport(rankings, parseProvenance(provenance, "provenance.json")));
  });

  it("renders offline without errors: heatmaps and curves drawn, every number equal to the files'", async () => {
    const profile = mkdtempSync(join(tmpdir(), "cna-chromium-"));
    const context = await launchChromium(profile);
    try {
      await checkPage(context);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 120_000);

  async function checkPage(context: BrowserContext): Promise<void> {
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") errors.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(join(out, "report.html")).href, { waitUntil: "load" });

    expect(errors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith("file:") && !u.startsWith("data:"))).toEqual([]);
    expect(await page.title()).toBe("report-demo");
    expect(await page.locator("h1").innerText()).toBe("report-demo");

    // Every heatmap drawn: one filled, visible rect per head of its cell.
    const heatmaps = await page.$$eval("svg.heatmap", (svgs) =>
      svgs.map((svg) => ({
        layers: Number(svg.getAttribute("data-layers")),
        heads: Number(svg.getAttribute("data-heads")),
        drawn: [...svg.querySelectorAll("rect.hm-cell")].filter((r) => {
          const fill = r.getAttribute("fill") ?? "";
          const box = (r as unknown as { getBBox(): { width: number; height: number } }).getBBox();
          const shown = r.getBoundingClientRect();
          return (
            fill !== "" && fill !== "none" && box.width > 0 && box.height > 0 && shown.width > 0 && shown.height > 0
          );
        }).length,
        outlined: svg.querySelectorAll("rect.hm-top").length,
      })),
    );
    const withHeads = rankings.cells.filter((c) => c.heads);
    expect(heatmaps).toHaveLength(withHeads.length);
    expect(withHeads.length).toBe(4);
    heatmaps.forEach((h, i) => {
      const heads = withHeads[i]!.heads!;
      expect(h.layers * h.heads).toBe(heads.length);
      expect(h.drawn).toBeGreaterThanOrEqual(h.layers * h.heads);
      expect(h.outlined).toBe(1);
    });

    // Verification curves: three series per cell, a marker per K.
    const curves = await page.$$eval("svg.curves", (svgs) =>
      svgs.map((svg) => ["mask", "keep", "random"].map((s) => svg.querySelectorAll(`.series-${s} .pt`).length)),
    );
    expect(curves).toEqual(
      rankings.cells
        .filter((c) => c.verification)
        .map((c) => [c.verification!.mask.length, c.verification!.keep.length, c.verification!.random.length]),
    );

    // Every number on the page against rankings.json / provenance.json.
    const numbers: PageNumber[] = await page.$$eval("[data-value]", (els) =>
      els.map((e) => ({
        value: e.getAttribute("data-value")!,
        format: e.getAttribute("data-format"),
        path: e.getAttribute("data-path"),
        derived: e.getAttribute("data-derived"),
        provenancePath: e.getAttribute("data-provenance-path"),
        text: (e.textContent ?? "").trim(),
        model: e.getAttribute("data-model"),
        layer: e.getAttribute("data-layer"),
        head: e.getAttribute("data-head"),
      })),
    );
    const layers = modelLayers(rankings);
    const doms = dominance(rankings);
    const shared = sharedHeads(rankings);
    const cellsOf = (m: string) => rankings.cells.filter((c) => c.model === m && c.heads).length;
    const expected = (n: PageNumber): unknown => {
      if (n.path !== null) return resolvePointer(rankings, n.path);
      if (n.provenancePath !== null) return resolvePointer(provenance, n.provenancePath);
      switch (n.derived) {
        case "depth":
          return relativeDepth(Number(n.layer), layers.get(n.model!)!);
        case "layers":
          return layers.get(n.model!);
        case "dominates":
          return doms.find((d) => d.model === n.model && `L${d.layer}H${d.head}` === n.head)?.cells.length;
        case "cellsWithHeads":
          return cellsOf(n.model!);
        case "sharedOperators":
          return shared.find((s) => s.model === n.model && `L${s.layer}H${s.head}` === n.head)?.bestRank.size;
        default:
          return `unknown source ${JSON.stringify(n)}`;
      }
    };
    const sources = new Set<string>();
    for (const n of numbers) {
      const want = expected(n);
      const where = JSON.stringify(n);
      expect(typeof want, where).toBe("number");
      expect(Number(n.value), where).toBe(want);
      if (n.format !== null) expect(n.text, where).toBe(FORMATS[n.format as NumberFormat](want as number));
      sources.add(
        n.path !== null
          ? n.path.replace(/\/\d+/g, "/#")
          : n.provenancePath !== null
            ? `provenance${n.provenancePath.replace(/\/\d+/g, "/#")}`
            : `derived:${n.derived}`,
      );
    }
    // The page shows every kind of number the brief asks for.
    for (const s of [
      "/cells/#/heads/#/relativeDrop",
      "/cells/#/neurons/#/cnaMean",
      "/cells/#/neurons/#/impOrigMean",
      "/cells/#/neurons/#/impAblatedMean",
      "/cells/#/neurons/#/coefOrigMean",
      "/cells/#/neurons/#/coefAblatedMean",
      "/cells/#/verification/mask/#/relativeDecrease",
      "/cells/#/verification/keep/#/relativeDecrease",
      "/cells/#/verification/random/#/relativeDecrease",
      "/cells/#/baselineAccuracy",
      "derived:depth",
      "derived:dominates",
      "provenance/shards/#/stored",
      "provenance/redeliveries",
    ])
      expect(sources, s).toContain(s);
    // Every head of every cell is on the page with its exact value.
    const heads = new Set(
      numbers.filter((n) => n.path !== null && /\/heads\/\d+\/relativeDrop$/.test(n.path)).map((n) => n.path),
    );
    expect(heads.size).toBe(rankings.cells.reduce((s, c) => s + (c.heads?.length ?? 0), 0));

    // Provenance: the sweep file text and every model digest.
    const prov = await page.locator("#provenance").innerText();
    expect(prov).toContain("name: report-demo");
    for (const m of (provenance as { models: Array<{ sha256: string }> }).models) expect(prov).toContain(m.sha256);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "report.png"), fullPage: true });
    expect(errors).toEqual([]);
  }
});
