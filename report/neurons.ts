/**
 * A cell's top neurons by CNA (docs/method.md §4), as the paper's tables give them: CNA score,
 * importance in the original and the head-ablated model, the coefficient m → m′, in how many
 * cases the neuron was in the top-K, and the tokens it writes with σ, the sign of its mean
 * coefficient (a neuron with a negative m writes the tokens of -W_out).
 */
import type { CellRankings } from "../core/index.ts";
import { esc, headName, neuronName, num, ptr, tokenHtml, tokensSignHtml } from "./format.ts";

/** Tokens shown per neuron (rankings.json may hold more). */
const TOKENS_SHOWN = 6;

export function renderNeuronTable(cell: CellRankings, cellIndex: number, top: number): string {
  const neurons = (cell.neurons ?? []).slice(0, top);
  const p = (i: number, field: string) => ({ path: ptr("cells", cellIndex, "neurons", i, field) });
  const rows = neurons.map((n, i) => {
    const tokens =
      n.topTokens === undefined
        ? '<span class="muted">—</span>'
        : n.topTokens.slice(0, TOKENS_SHOWN).map(tokenHtml).join(" ");
    return (
      `<tr><td>${i + 1}</td><td class="id">${esc(neuronName(n))}</td>` +
      `<td>${num(n.cnaMean, "score", p(i, "cnaMean"))}</td>` +
      `<td>${num(n.impOrigMean, "score", p(i, "impOrigMean"))}</td>` +
      `<td>${num(n.impAblatedMean, "score", p(i, "impAblatedMean"))}</td>` +
      `<td class="coef">${num(n.coefOrigMean, "coef", p(i, "coefOrigMean"))} <span class="arrow">→</span> ${num(n.coefAblatedMean, "coef", p(i, "coefAblatedMean"))}</td>` +
      `<td>${num(n.topKCount, "int", p(i, "topKCount"))}</td>` +
      `<td class="sign">${tokensSignHtml(n.topTokensSign, p(i, "topTokensSign"))}</td><td class="tokens">${tokens}</td></tr>`
    );
  });
  const ablated = cell.ablatedHead ? ` with head ${esc(headName(cell.ablatedHead))} ablated` : "";
  const of =
    cell.neuronCount === undefined
      ? ""
      : ` of ${num(cell.neuronCount, "int", { path: ptr("cells", cellIndex, "neuronCount") })}`;
  const caption =
    `Top ${neurons.length}${of} FFN neurons by mean CNA score${ablated}; means over the cell's cases. ` +
    "Imp is the log-probability increase of the predicted token (docs/method.md §3); m → m′ the neuron's coefficient in the original → ablated model; " +
    "top-K: cases in which the neuron was among the case's top-K; σ the sign of the mean m, and the neuron writes the top tokens of σ·W_out (docs/method.md §4).";
  return `<table class="numbers neurons sortable"><caption>${caption}</caption><thead><tr><th>#</th><th class="l">neuron</th><th>CNA</th><th>Imp orig</th><th>Imp ablated</th><th>m → m′</th><th>top-K</th><th>σ</th><th class="tokens">writes</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}
