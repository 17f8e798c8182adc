/**
 * The HTML report without a browser: text is escaped (a token or sweep file can't inject markup),
 * cells missing sections still render, the fixed number formats,
 * every data-value equal to the rankings value its data-path names, the cross-model derivations,
 * and input checks that name the bad field.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CellRankings } from "../../core/index.ts";
import {
  FORMATS,
  divergingColor,
  dominance,
  modelLayers,
  parseProvenance,
  parseRankingsJson,
  relativeDepth,
  renderReport,
  sharedHeads,
} from "../../report/index.ts";
import type { ReportProvenance } from "../../report/index.ts";
import { fullCell, rankings } from "../helpers/report-cells.ts";

/** Resolves a JSON Pointer (RFC 6901). */
function resolvePointer(doc: unknown, pointer: string): unknown {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], doc);
}

const unescape = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");

/** Every element with a data-path: its raw value, the pointer, the format and its text (if a span). */
function numbersOf(html: string): Array<{ value: string; path: string; format?: string; text?: string }> {
  const out: Array<{ value: string; path: string; format?: string; text?: string }> = [];
  for (const m of html.matchAll(/<(\w+)([^>]*?)\sdata-value="([^"]*)"([^>]*)>/g)) {
    const attrs = `${m[2]} ${m[4]}`;
    const path = /data-path="([^"]*)"/.exec(attrs)?.[1];
    if (path === undefined) continue;
    const format = /data-format="([^"]*)"/.exec(attrs)?.[1];
    const rest = html.slice(m.index + m[0].length);
    out.push({
      value: m[3]!,
      path: unescape(path),
      ...(format ? { format, text: unescape(rest.slice(0, rest.indexOf("<"))) } : {}),
    });
  }
  return out;
}

describe("renderReport", () => {
  const r = rankings([
    fullCell("m-2l", "+", 2, 3, [1, 2]),
    fullCell("m-2l", "-", 2, 3, [1, 2]),
    fullCell("m-4l", "+", 4, 2, [2, 0]),
  ]);

  it("is one self-contained page: one inline script allowed by its hash, no external resources", () => {
    const html = renderReport(r);
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).not.toMatch(
      /<link rel="stylesheet"|https?:\/\/(?!www\.w3\.org\/2000\/svg)|@import|url\(|<script[^>]*src=/i,
    );
    const scripts = [...html.matchAll(/<script>(.*?)<\/script>/gs)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    expect(html.match(/<script/g)).toHaveLength(1);
    const hash = createHash("sha256").update(scripts[0]!).digest("base64");
    expect(html).toContain(
      `content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-${hash}'"`,
    );
    expect(renderReport(r)).toBe(html); // a pure function of its inputs
  });

  it("escapes every text: a <script> token, a model name and a sweep file render inert", () => {
    const cell = fullCell("m<b>&\"x'", "+", 2, 2, [0, 1]);
    cell.neurons![0]!.topTokens = ["<script>alert(1)</script>", "a&b", '"q"'];
    const prov: ReportProvenance = {
      sweep: "name: x\n</pre><script>alert(2)</script>",
      sweepFile: "/tmp/<x>.yaml",
      models: [{ id: "<img src=x onerror=alert(3)>", sha256: "ab" }],
    };
    const html = renderReport(rankings([cell]), prov, { title: "<title>T</title>" });
    expect(html.match(/<script/gi)).toHaveLength(1); // the report's own
    expect(html).not.toMatch(/<img|m<b>|<\/pre><script/i);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("a&amp;b");
    expect(html).toContain("m&lt;b&gt;&amp;&quot;x&#39;");
    expect(html).toContain("&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;");
    expect(html).toContain("<title>&lt;title&gt;T&lt;/title&gt;</title>");
  });

  it("renders cells without verification, neurons or heads, and empty rankings", () => {
    const headsOnly: CellRankings = { ...fullCell("m", "*", 2, 2, [0, 0]) };
    delete headsOnly.neurons;
    delete headsOnly.verification;
    delete headsOnly.ablatedHead;
    const bare: CellRankings = { model: "m", op: "/", digits: 2, template: 3, cases: 0, baselineAccuracy: 0 };
    const html = renderReport(rankings([headsOnly, bare]));
    expect(html.match(/<svg class="heatmap[" ]/g)).toHaveLength(1);
    expect(html).not.toContain('<svg class="curves"');
    expect(html).toContain("No verification results for this cell.");
    expect(html).toContain("No CNA results for this cell.");
    expect(html).toContain("No head-ablation results for this cell.");
    expect(html).toContain('id="cell-1"');
    expect(renderReport(rankings([]))).toContain("The rankings hold no cells.");
  });

  it("draws one heatmap rect per head, with its tooltip, and outlines the top head", () => {
    const html = renderReport(rankings([fullCell("m", "+", 2, 3, [1, 2])]));
    const rects = [
      ...html.matchAll(
        /<rect class="hm-cell"[^>]*fill="(#[0-9a-f]{6})"[^>]*data-value="([^"]+)"[^>]*><title>([^<]*)<\/title>/g,
      ),
    ];
    expect(rects).toHaveLength(6);
    expect(rects.map((m) => m[3])).toContain("L1H2: relative drop 62.5%");
    const top = rects.find((m) => m[3]!.startsWith("L1H2:"))!;
    expect(top[1]).toBe(divergingColor(0.625, 0.625));
    expect(html).toMatch(/<rect class="hm-top"[^>]*stroke="#000000"[^>]*><title>top head L1H2<\/title>/);
  });

  it("scales the heatmap to a Llama-sized model: 32 x 32 heads, thinned strokes and axis labels", () => {
    const html = renderReport(rankings([fullCell("llama", "+", 32, 32, [17, 22])]));
    expect(html.match(/<rect class="hm-cell"/g)).toHaveLength(1024);
    expect(html).toMatch(/<svg class="heatmap hm-tight"[^>]*data-layers="32" data-heads="32"/);
    expect(html).toContain("<title>L17H22: relative drop 62.5%</title>");
    expect(html).not.toContain('class="hm-label"'); // no numbers inside 11-px cells
  });

  it("gives every key number its raw value and a pointer to it, formatted by the fixed rule", () => {
    const html = renderReport(r, undefined, { topNeurons: 2 });
    const nums = numbersOf(html);
    expect(nums.length).toBeGreaterThan(3 * (6 + 2 * 5 + 6));
    for (const n of nums) {
      const v = resolvePointer(r, n.path);
      expect(typeof v, n.path).toBe("number");
      expect(Number(n.value), n.path).toBe(v);
      if (n.format) expect(n.text, n.path).toBe(FORMATS[n.format as keyof typeof FORMATS](v as number));
    }
    // every head of every cell is on its heatmap
    for (const [c, cell] of r.cells.entries()) {
      cell.heads!.forEach((_, i) =>
        expect(nums.some((n) => n.path === `/cells/${c}/heads/${i}/relativeDrop`)).toBe(true),
      );
    }
    expect(
      nums
        .filter((n) => /\/neurons\/\d+\/cnaMean$/.test(n.path))
        .map((n) => n.path)
        .sort(),
    ).toEqual([
      "/cells/0/neurons/0/cnaMean",
      "/cells/0/neurons/0/cnaMean",
      "/cells/0/neurons/1/cnaMean",
      "/cells/1/neurons/0/cnaMean",
      "/cells/1/neurons/0/cnaMean",
      "/cells/1/neurons/1/cnaMean",
      "/cells/2/neurons/0/cnaMean",
      "/cells/2/neurons/0/cnaMean",
      "/cells/2/neurons/1/cnaMean",
    ]); // summary row + the table's top 2
  });

  it("shows σ, the sign of the mean coefficient, beside each CNA neuron's tokens", () => {
    const table = /<table class="numbers neurons sortable">.*?<\/table>/s.exec(renderReport(r))?.[0] ?? "";
    expect(table).toContain("σ the sign of the mean m");
    expect(table).toContain('<th>σ</th><th class="tokens">writes</th>');
    const signs = [
      ...table.matchAll(
        /<td class="sign"><span class="num" data-value="([^"]+)" data-format="sign" data-path="\/cells\/0\/neurons\/(\d)\/topTokensSign">([^<]+)<\/span><\/td><td class="tokens">/g,
      ),
    ];
    expect(signs.map((m) => [m[2], m[1], m[3]])).toEqual([
      ["0", "-1", "\u22121"],
      ["1", "-1", "\u22121"],
      ["2", "1", "+1"],
    ]);
  });

  it("shows provenance numbers with pointers into provenance.json", () => {
    const prov: ReportProvenance = {
      workers: 3,
      redeliveries: 2,
      duplicates: 1,
      nondeterministic: 0,
      shards: [{ stage: "cna", total: 6, stored: 5, quarantined: 1 }],
      quarantined: [{ shardId: "s1", cell: "m + 1D t4", stage: "cna", reason: "boom" }],
    };
    const html = renderReport(r, prov);
    for (const m of html.matchAll(/data-value="([^"]*)"[^>]*data-provenance-path="([^"]*)"/g))
      expect(Number(m[1])).toBe(resolvePointer(prov, m[2]!));
    expect(html).toMatch(/data-provenance-path="\/shards\/0\/quarantined">1</);
    expect(html).toContain("boom");
  });
});

describe("number formats", () => {
  it("percentages with 1 decimal, scores with 3, coefficients and depths with 2; no negative zero", () => {
    expect(FORMATS.pct(0.4567)).toBe("45.7%");
    expect(FORMATS.pct(1)).toBe("100.0%");
    expect(FORMATS.pct(-0.00001)).toBe("0.0%");
    expect(FORMATS.pct(-0.25)).toBe("\u221225.0%");
    expect(FORMATS.score(0.8234)).toBe("0.823");
    expect(FORMATS.score(-0.0001)).toBe("0.000");
    expect(FORMATS.coef(-6.204)).toBe("\u22126.20");
    expect(FORMATS.depth(2 / 3)).toBe("0.67");
    expect(FORMATS.int(145)).toBe("145");
    expect(FORMATS.sign(-1)).toBe("\u22121");
    expect(FORMATS.sign(1)).toBe("+1");
  });
});

describe("across models", () => {
  const r = rankings([
    fullCell("a", "+", 3, 2, [1, 1]),
    fullCell("a", "-", 3, 2, [1, 1]),
    fullCell("a", "*", 3, 2, [2, 0]),
    fullCell("b", "+", 5, 2, [4, 1]),
    fullCell("b", "/", 5, 2, [0, 0]),
  ]);

  it("measures depth as layer / (layers - 1)", () => {
    expect(Object.fromEntries(modelLayers(r))).toEqual({ a: 3, b: 5 });
    expect(relativeDepth(1, 3)).toBe(0.5);
    expect(relativeDepth(0, 1)).toBe(0);
  });

  it("counts the cells each head dominates, most first", () => {
    expect(dominance(r).map((d) => [d.model, `${d.layer}.${d.head}`, d.cells.length])).toEqual([
      ["a", "1.1", 2],
      ["a", "2.0", 1],
      ["b", "0.0", 1],
      ["b", "4.1", 1],
    ]);
  });

  it("finds heads in the top 3 of two or more operators", () => {
    const shared = sharedHeads(r).filter((s) => s.model === "a" && s.layer === 1 && s.head === 1);
    expect(shared).toHaveLength(1);
    expect([...shared[0]!.bestRank.entries()].filter(([, rank]) => rank === 1).map(([op]) => op)).toEqual(["+", "-"]);
  });

  it("renders the section with derived numbers that carry their inputs", () => {
    const html = renderReport(r);
    expect(html).toMatch(
      /data-value="2" data-format="int" data-derived="dominates" data-model="a" data-head="L1H1">2</,
    );
    for (const m of html.matchAll(
      /data-value="([^"]*)" data-format="depth" data-derived="depth" data-model="([^"]*)" data-layer="(\d+)"/g,
    )) {
      expect(Number(m[1])).toBe(relativeDepth(Number(m[3]), modelLayers(r).get(m[2]!)!));
    }
  });
});

describe("inputs", () => {
  it("refuses another rankings schema version and names bad fields", () => {
    expect(() => parseRankingsJson('{"schema":"cna-sweep/rankings@2","cells":[]}', "x.json")).toThrow(
      /x\.json: schema: expected "cna-sweep\/rankings@1"/,
    );
    expect(() => parseRankingsJson("{", "x.json")).toThrow(/x\.json: not JSON/);
    const bad = rankings([fullCell("m", "+", 2, 2, [0, 0])]) as unknown as {
      cells: Array<{ heads: Array<Record<string, unknown>> }>;
    };
    bad.cells[0]!.heads[1]!.relativeDrop = "0.5";
    expect(() => parseRankingsJson(JSON.stringify(bad), "r.json")).toThrow(
      /cells\[0\]\.heads\[1\]\.relativeDrop: expected a number/,
    );
    try {
      parseRankingsJson("[]", "r.json");
    } catch (err) {
      expect((err as { code: string }).code).toBe("BAD_REPORT_INPUT");
    }
  });

  it("checks provenance.json's fields", () => {
    expect(parseProvenance({ workers: 2, extra: true }, "p.json")).toEqual({ workers: 2, extra: true });
    expect(() =>
      parseProvenance({ shards: [{ stage: "cna", total: "6", stored: 1, quarantined: 0 }] }, "p.json"),
    ).toThrow(/p\.json: shards\[0\]\.total: expected a number/);
    expect(() => parseProvenance({ versions: { node: 20 } }, "p.json")).toThrow(/versions\.node: expected a string/);
  });
});
