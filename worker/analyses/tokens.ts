/**
 * What a neuron writes: the top tokens of W_U (g * c(σ · W_out^l[k])) (docs/method.md §4),
 * the readout the paper prints next to each neuron ("8, eight, VIII, ..."). σ is the sign of the
 * neuron's mean coefficient (core's `coefSign`): the paper projects the subvalue m · W_out, so a
 * neuron with a negative coefficient writes the tokens of -W_out.
 */
import { topIndices } from "../../core/index.ts";
import type { ListedNeurons, NeuronTokens, SignedNeuron, TopTokensPartial } from "../../core/index.ts";
import { buildUGraph } from "../onnx/attribution.ts";
import type { ModelRunner } from "../onnx/runner.ts";
import { floatTensor } from "../onnx/session.ts";
import { checkNeuron } from "./common.ts";

/** How token ids are shown: a token's own text where it spells one, decode() otherwise. */
export interface TokenDecoder {
  decode(ids: readonly number[]): string;
  /** The text one token spells, its leading space kept ("▁8" and "Ġ8" → " 8"); see ModelTokenizer. */
  tokenText(id: number): string | undefined;
}

/**
 * A token as shown beside a neuron: its own text, so SentencePiece's "▁8" shows as " 8" (decode
 * drops the space of a lone first token). A byte that is only part of a UTF-8 character spells
 * no text: decode() shows it as the replacement character.
 */
export const tokenString = (tokenizer: TokenDecoder, id: number): string =>
  tokenizer.tokenText(id) ?? tokenizer.decode([id]);

/** The top `count` tokens of each neuron, ranked by W_U (g * c(sign · W_out[k])), in the order given. */
export async function neuronTopTokens(
  runner: ModelRunner,
  tokenizer: TokenDecoder,
  neurons: readonly SignedNeuron[],
  count = 10,
): Promise<string[][]> {
  if (neurons.length === 0) return [];
  const { dModel: D, vocabSize: V } = runner.shape;
  for (const n of neurons) checkNeuron(runner.shape, n.layer, n.neuron);
  // [neurons, D]: σ · W_out[k]; U is linear in it, so a row of -W_out ranks the bottom tokens first.
  const rows = new Float32Array(neurons.length * D);
  neurons.forEach((n, i) => {
    const row = runner.mlpOutRows(n.layer, n.neuron, 1);
    for (let d = 0; d < D; d++) rows[i * D + d] = n.sign * row[d]!;
  });
  const session = await runner.graph("u-matrix", (external) => buildUGraph(runner.unembedWeights(), D, external));
  // [neurons, V]
  const u = (
    await runner.runGraph("u-matrix", session, neurons.length, { w_out: floatTensor(rows, [neurons.length, D]) }, [
      "u_t",
    ])
  ).u_t!.data as Float32Array;
  return neurons.map((_, i) =>
    topIndices(u.subarray(i * V, (i + 1) * V), Math.min(count, V)).map((id) => tokenString(tokenizer, id)),
  );
}

/**
 * The top-tokens stage: what each neuron a cell lists writes, one projection per list (the
 * CNA neurons, then the attribution neurons), each neuron with its σ.
 */
export async function listedTopTokens(
  runner: ModelRunner,
  tokenizer: TokenDecoder,
  listed: ListedNeurons,
  count: number,
): Promise<TopTokensPartial> {
  const written = async (list: readonly SignedNeuron[]): Promise<NeuronTokens[]> => {
    const tokens = await neuronTopTokens(runner, tokenizer, list, count);
    return list.map((n, i) => ({ layer: n.layer, neuron: n.neuron, sign: n.sign, tokens: tokens[i]! }));
  };
  const { nLayer, nHead, dMlp } = runner.shape;
  return {
    kind: "top-tokens",
    dims: { nLayer, nHead, dMlp },
    cna: await written(listed.cna),
    attribution: await written(listed.attribution),
  };
}
