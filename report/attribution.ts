/**
 * A cell's attribution results (the log-probability increase of docs/method.md §3, no head ablated):
 * the top FFN neurons by mean importance, and the mean importance of each attention layer,
 * FFN layer and head — where in the model the predicted token's probability is built.
 */
import type { CellRankings } from "../core/index.ts";
import { esc, headName, neuronName, num, ptr, tokenHtml, tokensSignHtml } from "./format.ts";

/** Heads listed, by mean importance. */
const HEADS_SHOWN = 10;
const TOKENS_SHOWN = 6;

export function renderAttribution(cell: CellRankings, cellIndex: number, top: number): string {
  const a = cell.attribution;
  if (!a) return "";
  const at = (...rest: Array<string | number>) => ({ path: ptr("cells", cellIndex, "attribution", ...rest) });
  const neurons = a.neurons.slice(0, top).map((n, i) => {
    const tokens =
      n.topTokens === undefined
        ? '<span class="muted">—</span>'
        : n.topTokens.slice(0, TOKENS_SHOWN).map(tokenHtml).join(" ");
    return (
      `<tr><td>${i + 1}</td><td class="id">${esc(neuronName(n))}</td><td>${num(n.impMean, "score", at("neurons", i, "impMean"))}</td>` +
      `<td>${num(n.topKCount, "int", at("neurons", i, "topKCount"))}</td>` +
      `<td class="sign">${tokensSignHtml(n.topTokensSign, at("neurons", i, "topTokensSign"))}</td><td class="tokens">${tokens}</td></tr>`
    );
  });
  const neuronTable =
    `<table class="numbers neurons attribution-neurons sortable"><caption>Top ${neurons.length} FFN neurons by mean log-probability increase of the predicted token (no head ablated); top-K: cases in which the neuron was among the case's top ${esc(a.topK)}; σ the sign of the neuron's mean coefficient m, and it writes the top tokens of σ·W_out (docs/method.md §4).</caption>` +
    `<thead><tr><th>#</th><th class="l">neuron</th><th>Imp</th><th>top-K</th><th>σ</th><th class="tokens">writes</th></tr></thead><tbody>${neurons.join("")}</tbody></table>`;
  const attn = new Map(a.attnLayers.map((l, i) => [l.layer, i]));
  const ffn = new Map(a.ffnLayers.map((l, i) => [l.layer, i]));
  const layers = [...new Set([...attn.keys(), ...ffn.keys()])]
    .sort((x, y) => x - y)
    .map((layer) => {
      const ai = attn.get(layer);
      const fi = ffn.get(layer);
      return (
        `<tr><td>${esc(layer)}</td><td>${ai === undefined ? "—" : num(a.attnLayers[ai]!.impMean, "score", at("attnLayers", ai, "impMean"))}</td>` +
        `<td>${fi === undefined ? "—" : num(a.ffnLayers[fi]!.impMean, "score", at("ffnLayers", fi, "impMean"))}</td></tr>`
      );
    });
  const layerTable =
    `<table class="numbers attribution-layers"><caption>Mean importance of each layer's attention output and FFN output for the predicted token.</caption>` +
    `<thead><tr><th>layer</th><th>attention</th><th>FFN</th></tr></thead><tbody>${layers.join("")}</tbody></table>`;
  const heads = a.heads
    .map((h, i) => ({ h, i }))
    .sort((x, y) => y.h.impMean - x.h.impMean || x.h.layer - y.h.layer || x.h.head - y.h.head)
    .slice(0, HEADS_SHOWN)
    .map(
      ({ h, i }, rank) =>
        `<tr><td>${rank + 1}</td><td class="id">${esc(headName(h))}</td><td>${num(h.impMean, "score", at("heads", i, "impMean"))}</td></tr>`,
    );
  const headTable =
    `<table class="numbers attribution-heads sortable"><caption>Heads with the largest mean importance (each head's own contribution added to the layer's input).</caption>` +
    `<thead><tr><th>#</th><th class="l">head</th><th>Imp</th></tr></thead><tbody>${heads.join("")}</tbody></table>`;
  return `<h3>Attribution</h3><div class="figure-row">${layerTable}${headTable}</div>${neuronTable}`;
}
