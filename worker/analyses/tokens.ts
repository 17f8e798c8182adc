/**
 * What a neuron writes: the top tokens of W_U (g * c(W_out^l[k])) (docs/method.md §4), the
 * readout the paper prints next to each neuron ("8, eight, VIII, ...").
 */
import { topIndices } from "../../core/index.ts";
import { buildUGraph } from "../onnx/attribution.ts";
import type { ModelRunner } from "../onnx/runner.ts";
import { floatTensor } from "../onnx/session.ts";
import { checkNeuron } from "./common.ts";

export interface TokenDecoder {
  decode(ids: number[]): string;
}

export async function neuronTopTokens(
  runner: ModelRunner, tokenizer: TokenDecoder, neurons: ReadonlyArray<{ layer: number; neuron: number }>, count = 10,
): Promise<string[][]> {
  if (neurons.length === 0) return [];
  const { dModel: D, vocabSize: V } = runner.shape;
  for (const n of neurons) checkNeuron(runner.shape, n.layer, n.neuron);
  const rows = new Float32Array(neurons.length * D);
  neurons.forEach((n, i) => rows.set(runner.mlpOutRows(n.layer, n.neuron, 1), i * D));
  const session = await runner.graph("u-matrix", (external) => buildUGraph(runner.unembedWeights(), D, external));
  const u = (await runner.runGraph("u-matrix", session, neurons.length, { w_out: floatTensor(rows, [neurons.length, D]) }, ["u_t"])).u_t!.data as Float32Array;
  return neurons.map((_, i) => topIndices(u.subarray(i * V, (i + 1) * V), Math.min(count, V)).map((id) => tokenizer.decode([id])));
}
