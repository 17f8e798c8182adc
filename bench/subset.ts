/**
 * A smaller model cut out of a larger one: some of its layers, and the first `dMlp` FFN neurons
 * of each. The attribution benchmark times the slow paths on such a slice of GPT-2 small and
 * scales by neuron count; the slice is a consistent model in its own right (its forward pass is
 * valid), it just is not the original one.
 */
import type { LayerWeights, Linear, ModelConfig, ModelWeights, Tensor } from "../worker/index.ts";

export interface SliceSpec {
  /** Layers to keep, in order (indices into the original model). */
  layers: readonly number[];
  /** Keep FFN neurons 0..dMlp-1 of every kept layer. */
  dMlp: number;
}

/** The weights must be GPT-2's [in, out] layout (the bench's synthetic GPT-2 small). */
export function sliceModel(config: ModelConfig, weights: ModelWeights, spec: SliceSpec): { config: ModelConfig; weights: ModelWeights } {
  if (weights.layout !== "in-out") throw new RangeError("sliceModel cuts [in, out] weights (GPT-2's layout) only");
  const { dModel: D, dMlp: F } = config;
  const Fs = spec.dMlp;
  if (!Number.isInteger(Fs) || Fs < 1 || Fs > F) throw new RangeError(`slice dMlp ${Fs} is outside 1..${F}`);
  if (spec.layers.length === 0) throw new RangeError("a slice needs at least one layer");
  const layers = spec.layers.map((l): LayerWeights => {
    const layer = weights.layers[l];
    if (!layer) throw new RangeError(`slice layer ${l} is outside 0..${config.nLayer - 1}`);
    return { ...layer, mlpIn: sliceColumns(layer.mlpIn, D, F, Fs), mlpOut: sliceRows(layer.mlpOut, Fs, D) };
  });
  return { config: { ...config, nLayer: layers.length, dMlp: Fs }, weights: { ...weights, layers } };
}

/** W_in [D, F] -> [D, Fs] (a copy: the columns are strided), bias [F] -> [Fs]. */
function sliceColumns(a: Linear, D: number, F: number, Fs: number): Linear {
  const data = new Float32Array(D * Fs);
  for (let d = 0; d < D; d++) data.set(a.weight.data.subarray(d * F, d * F + Fs), d * Fs);
  return a.bias ? { weight: { data, shape: [D, Fs] }, bias: head(a.bias, Fs) } : { weight: { data, shape: [D, Fs] } };
}

/** W_out [F, D] -> [Fs, D] (a view), bias [D] unchanged. */
function sliceRows(a: Linear, Fs: number, D: number): Linear {
  return { ...a, weight: { data: a.weight.data.subarray(0, Fs * D), shape: [Fs, D] } };
}

function head(t: Tensor, n: number): Tensor {
  return { data: t.data.subarray(0, n), shape: [n] };
}

/** Rows `layers` x neurons 0..dMlp-1 of per-layer activations [B, L, W] -> [B, layers, W'] (W' = width or dMlp). */
export function sliceActivations(data: Float32Array, batch: number, nLayer: number, width: number, layers: readonly number[], keep = width): Float32Array {
  const out = new Float32Array(batch * layers.length * keep);
  for (let b = 0; b < batch; b++) {
    layers.forEach((l, i) => {
      const from = (b * nLayer + l) * width;
      out.set(data.subarray(from, from + keep), (b * layers.length + i) * keep);
    });
  }
  return out;
}
