/**
 * The report shows a cell's attribution results: the top neurons by log-probability increase,
 * each layer's attention and FFN importance, and the heads with the largest importance, every
 * number carrying its raw value and its place in rankings.json.
 */
import { describe, expect, it } from "vitest";
import { RANKINGS_SCHEMA } from "../../core/index.ts";
import type { CellRankings, Rankings } from "../../core/index.ts";
import { renderReport } from "../../report/index.ts";
import { rankingsSchemaErrors } from "../helpers/rankings-schema.ts";

const cell: CellRankings = {
  model: "m",
  op: "+",
  digits: 1,
  template: 4,
  cases: 10,
  baselineAccuracy: 0.9,
  attribution: {
    topK: 20,
    neurons: [
      { layer: 1, neuron: 17, impMean: 0.8125, coefMean: -1.5, topKCount: 9, topTokens: ["8", "9"], topTokensSign: -1 },
      { layer: 0, neuron: 3, impMean: 0.25, coefMean: 0.5, topKCount: 4 },
    ],
    attnLayers: [
      { layer: 0, impMean: 0.125 },
      { layer: 1, impMean: 1.5 },
    ],
    ffnLayers: [
      { layer: 0, impMean: -0.0625 },
      { layer: 1, impMean: 2.25 },
    ],
    heads: [
      { layer: 0, head: 0, impMean: 0.03125 },
      { layer: 0, head: 1, impMean: 0.5 },
      { layer: 1, head: 0, impMean: 1.75 },
      { layer: 1, head: 1, impMean: -0.5 },
    ],
  },
};

describe("report: attribution", () => {
  const rankings: Rankings = { schema: RANKINGS_SCHEMA, cells: [cell] };
  const html = renderReport(rankings, undefined, { title: "t" });

  it("is valid rankings to begin with", () => {
    expect(rankingsSchemaErrors(rankings)).toEqual([]);
  });

  it("lists the top neurons by importance with their tokens", () => {
    const table = /<table class="numbers neurons attribution-neurons sortable">.*?<\/table>/s.exec(html)?.[0] ?? "";
    expect(table).toContain('data-value="0.8125"');
    expect(table).toContain('data-path="/cells/0/attribution/neurons/0/impMean"');
    expect(table).toContain('data-path="/cells/0/attribution/neurons/1/topKCount"');
    expect(table).toMatch(/<td class="id">L1N17<\/td>.*<td class="id">L0N3<\/td>/s);
  });

  it("shows σ, the sign of the mean coefficient, beside the tokens, and a dash where there are no tokens", () => {
    const table = /<table class="numbers neurons attribution-neurons sortable">.*?<\/table>/s.exec(html)?.[0] ?? "";
    expect(table).toContain('<th>σ</th><th class="tokens">writes</th>');
    expect(table).toMatch(
      /<td class="sign"><span class="num" data-value="-1" data-format="sign" data-path="\/cells\/0\/attribution\/neurons\/0\/topTokensSign">\u22121<\/span><\/td><td class="tokens"><code class="tok">8<\/code>/,
    );
    expect(table).toMatch(
      /<td class="id">L0N3<\/td>.*<td class="sign"><span class="muted">—<\/span><\/td><td class="tokens"><span class="muted">—<\/span>/s,
    );
  });

  it("gives each layer's attention and FFN importance and the heads in order of importance", () => {
    const layers = /<table class="numbers attribution-layers">.*?<\/table>/s.exec(html)?.[0] ?? "";
    for (const [i, kind] of [
      [0, "attnLayers"],
      [1, "attnLayers"],
      [0, "ffnLayers"],
      [1, "ffnLayers"],
    ] as const) {
      expect(layers).toContain(`data-path="/cells/0/attribution/${kind}/${i}/impMean"`);
    }
    expect(layers).toContain('data-value="2.25"');
    const heads = /<table class="numbers attribution-heads sortable">.*?<\/table>/s.exec(html)?.[0] ?? "";
    const order = [...heads.matchAll(/data-path="\/cells\/0\/attribution\/heads\/(\d)\/impMean"/g)].map((m) =>
      Number(m[1]),
    );
    expect(order).toEqual([2, 1, 0, 3]);
  });

  it("adds nothing for a cell without attribution", () => {
    const plain = renderReport({ schema: RANKINGS_SCHEMA, cells: [{ ...cell, attribution: undefined }] }, undefined, {
      title: "t",
    });
    expect(plain).not.toContain("attribution-layers");
  });
});
