/**
 * A smaller model cut out of a larger one: some of its layers, and the first `dMlp` FFN neurons
 * of each. The benchmarks time the slow paths on such a slice (of GPT-2 small, of the large
 * model) and scale by neuron or layer count; the slice is a consistent model in its own right (its
 * forward pass is valid), it just is not the original one.
 */
import { tensorRows } from "../worker/index.ts";
import type { LayerWeights, Linear, ModelConfig, ModelWeights, Tensor } from "../worker/index.ts";

export interface SliceSpec {
  /** Layers to keep, in order (indices into the original model). */
  layers: readonly number[];
  /** Keep FFN neurons 0..dMlp-1 of every kept layer. */
  dMlp: number;
}

/**
 * Either weight layout. Every neuron kept: the layers' tensors as they are (a large checkpoint's
 * stay unread). Fewer: the kept neurons' rows and columns, read through tensorRows (only those
 * values, not the whole tensors).
 */
export function sliceModel(
  config: ModelConfig,
  weights: ModelWeights,
  spec: SliceSpec,
): { config: ModelConfig; weights: ModelWeights } {
  const { dModel: D, dMlp: F } = config;
  const Fs = spec.dMlp;
  if (!Number.isInteger(Fs) || Fs < 1 || Fs > F) throw new RangeError(`slice dMlp ${Fs} is outside 1..${F}`);
  if (spec.layers.length === 0) throw new RangeError("a slice needs at least one layer");
  const inOut = weights.layout === "in-out";
  // W_in and the gate produce the neurons ([D, F] in-out, [F, D] out-in); W_out reads them ([F, D] in-out, [D, F] out-in).
  const producing = (a: Linear): Linear =>
    withBias(inOut ? firstColumns(a.weight, D, F, Fs) : firstRows(a.weight, Fs, D), a.bias && firstRows(a.bias, Fs, 1));
  const reading = (a: Linear): Linear =>
    withBias(inOut ? firstRows(a.weight, Fs, D) : firstColumns(a.weight, D, F, Fs), a.bias);
  const layers = spec.layers.map((l): LayerWeights => {
    const layer = weights.layers[l];
    if (!layer) throw new RangeError(`slice layer ${l} is outside 0..${config.nLayer - 1}`);
    if (Fs === F) return layer;
    const sliced: LayerWeights = { ...layer, mlpIn: producing(layer.mlpIn), mlpOut: reading(layer.mlpOut) };
    if (layer.mlpGate) sliced.mlpGate = producing(layer.mlpGate);
    return sliced;
  });
  return { config: { ...config, nLayer: layers.length, dMlp: Fs }, weights: { ...weights, layers } };
}

function withBias(weight: Tensor, bias: Tensor | undefined): Linear {
  return bias ? { weight, bias } : { weight };
}

/** [rows, width] -> its first `keep` rows [keep, width] (a view when the values are in memory). */
function firstRows(t: Tensor, keep: number, width: number): Tensor {
  return { data: tensorRows(t, [0], keep * width), shape: width === 1 ? [keep] : [keep, width] };
}

/** [rows, width] -> its first `keep` columns [rows, keep] (strided: a copy). */
function firstColumns(t: Tensor, rows: number, width: number, keep: number): Tensor {
  return {
    data: tensorRows(
      t,
      Array.from({ length: rows }, (_, r) => r * width),
      keep,
    ),
    shape: [rows, keep],
  };
}

/** Rows `layers` x neurons 0..dMlp-1 of per-layer activations [B, L, W] -> [B, layers, W'] (W' = width or dMlp). */
export function sliceActivations(
  data: Float32Array,
  batch: number,
  nLayer: number,
  width: number,
  layers: readonly number[],
  keep = width,
): Float32Array {
  const out = new Float32Array(batch * layers.length * keep);
  for (let b = 0; b < batch; b++) {
    layers.forEach((l, i) => {
      const from = (b * nLayer + l) * width;
      out.set(data.subarray(from, from + keep), (b * layers.length + i) * keep);
    });
  }
  return out;
}
