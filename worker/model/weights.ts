/**
 * A checkpoint's weights in one description every family fills in ({@link ModelWeights}),
 * named by the family's entry in families.ts and shape-checked against config.json.
 *
 * Every tensor the architecture needs must be there with the config's shape (a bias exactly when
 * the config says the layer has one), and every tensor in the files must be one of them or a
 * known buffer: a stray `layers.12.*` under 12 layers means the config and the weights describe
 * different models, and analysing either would be wrong. Errors name the file holding the tensor
 * and the config.json field that sets the mismatching size.
 *
 * Loading reads the files' headers only: a tensor's values are read from its file when first
 * used (a small model's graphs copy them all in), or in parts that are not kept (the float32
 * cache of a half-precision checkpoint, W_out rows for attribution), so the weights of a large
 * model whose graphs point into files are never all held in memory.
 */
import type { ModelConfig } from "./config.ts";
import { MissingTensorError, ShapeMismatchError, UnexpectedTensorError } from "./errors.ts";
import { FAMILIES } from "./families.ts";
import type { TensorNames } from "./families.ts";
import { readStored } from "./safetensors.ts";
import type { StoredTensor } from "./safetensors.ts";
import type { TensorSource, WeightFiles } from "./weight-files.ts";

/** A row-major float32 tensor. */
export interface Tensor {
  /**
   * The values. A tensor loaded from a checkpoint reads them from its file on first access and
   * keeps them; code that needs a part of them, or needs them once, reads through
   * {@link tensorRows} instead, so a large model's weights are never all held in memory.
   */
  readonly data: Float32Array;
  shape: number[];
  /** Where the same float32 bytes sit in a file (F32 tensors, or a converted cache), so a graph can point at them. */
  source?: TensorSource;
  /** Where the checkpoint stores the values, in its own dtype (tensors loaded from a checkpoint). */
  stored?: StoredTensor;
}

/** Values of stored tensors whose `data` has been read. */
const LOADED = new WeakMap<Tensor, Float32Array>();

/** A tensor whose values stay in the checkpoint file until its `data` is first read. */
export function storedTensor(shape: number[], stored: StoredTensor, source?: TensorSource): Tensor {
  const t = { shape, stored, ...(source === undefined ? {} : { source }) } as Tensor;
  Object.defineProperty(t, "data", {
    enumerable: true,
    get: () => {
      let values = LOADED.get(t);
      if (values === undefined) LOADED.set(t, (values = readStored(stored, [0], stored.count)));
      return values;
    },
  });
  return t;
}

/**
 * Values [start, start + count) at each of `starts`, concatenated: a view of `data` when it is in
 * memory and one range is asked for, else read from the checkpoint file and not kept.
 */
export function tensorRows(t: Tensor, starts: readonly number[], count: number): Float32Array {
  const size = sizeOf(t.shape);
  for (const start of starts) {
    if (
      !Number.isSafeInteger(start) ||
      start < 0 ||
      !Number.isSafeInteger(count) ||
      count < 0 ||
      start + count > size
    ) {
      throw new RangeError(`values [${start}, ${start + count}) are outside the tensor's ${size}`);
    }
  }
  const data = LOADED.get(t) ?? (t.stored === undefined ? t.data : undefined);
  if (data === undefined) return readStored(t.stored!, starts, count);
  if (starts.length === 1) return data.subarray(starts[0], starts[0]! + count);
  const out = new Float32Array(starts.length * count);
  starts.forEach((start, i) => out.set(data.subarray(start, start + count), i * count));
  return out;
}

/** One key per distinct tensor: its place in the checkpoint, or its values' array (a tied unembedding has its embedding's key). */
export function tensorKey(t: Tensor): unknown {
  return t.stored === undefined ? t.data : `${t.stored.file}@${t.stored.offset}`;
}

/** Values in a tensor of `shape`. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** y = x W + b, W stored as the model's layout says (ModelWeights.layout). */
export interface Linear {
  weight: Tensor;
  bias?: Tensor;
}

export interface Norm {
  weight: Tensor;
  /** LayerNorm's; RMSNorm has none */
  bias?: Tensor;
}

export type QkvWeights =
  /** one projection to q | k | v: "blocks" all q then all k then all v (GPT-2); "per-head" each head's q, k, v in turn (GPT-NeoX) */
  { fused: Linear; order: "blocks" | "per-head" } | { q: Linear; k: Linear; v: Linear };

export interface LayerWeights {
  attnNorm: Norm;
  qkv: QkvWeights;
  /** per-head RMSNorm weights on q and k [d_head] (Qwen3) */
  qNorm?: Tensor;
  kNorm?: Tensor;
  /** W_O: [nHead * d_head -> d_model] */
  out: Linear;
  /** absent: the MLP reads attnNorm's output (GPT-J) */
  mlpNorm?: Norm;
  /** fc (GELU MLP) or up (SwiGLU): [d_model -> d_mlp] */
  mlpIn: Linear;
  /** SwiGLU's gate: [d_model -> d_mlp] */
  mlpGate?: Linear;
  /** W_out: [d_mlp -> d_model]; neuron k writes its row (in-out) or column (out-in) */
  mlpOut: Linear;
}

export interface ModelWeights {
  /** "in-out": weights are [in, out], y = x W (GPT-2's Conv1D); "out-in": [out, in], y = x W^T (nn.Linear) */
  layout: "in-out" | "out-in";
  /** [vocab, d_model] */
  embed: Tensor;
  /** learned positions [n_positions, d_model] (GPT-2) */
  positions?: Tensor;
  layers: LayerWeights[];
  finalNorm: Norm;
  /** [vocab, d_model]: the embedding itself when tied */
  unembed: Tensor;
  /** [vocab] (GPT-J's lm_head.bias) */
  unembedBias?: Tensor;
}

/** A size with the config.json field that sets it, so a mismatch can say which field to check. */
interface Dim {
  size: number;
  label: string;
  field: string;
}

export function loadWeights(files: WeightFiles, config: ModelConfig): ModelWeights {
  const family = FAMILIES[config.architecture];
  const names = family.tensors;
  const k = family.keys;
  const headDim = k.headDim ?? "head_dim";
  const dim = (size: number, label: string, field = label): Dim => ({ size, label, field });
  const D = dim(config.dModel, k.hidden);
  const F = dim(config.dMlp, k.mlp);
  const V = dim(config.vocabSize, "vocab_size");
  const Dh = dim(config.dHead, k.headDim === undefined ? `${k.hidden}/${k.heads}` : headDim, k.headDim ?? k.heads);
  const Q = dim(
    config.nHead * config.dHead,
    k.headDim === undefined ? k.hidden : `${k.heads}*${headDim}`,
    k.headDim ?? k.hidden,
  );
  const KV = dim(
    config.nKvHead * config.dHead,
    k.kvHeads === undefined ? Q.label : `${k.kvHeads}*${headDim}`,
    k.kvHeads ?? Q.field,
  );

  const prefix = names.prefixes.find((p) => files.has(p + names.embed));
  if (prefix === undefined) {
    const tried = names.prefixes
      .slice(1)
      .map((p) => `"${p + names.embed}"`)
      .join(", ");
    throw new MissingTensorError(files.path, names.prefixes[0]! + names.embed, tried === "" ? "" : ` (nor ${tried})`);
  }
  const used = new Set<string>();
  const tensor = (full: string, dims: Dim[]): Tensor => {
    if (!files.has(full)) throw new MissingTensorError(files.path, full);
    const actual = files.info(full).shape;
    const expected = dims.map((d) => d.size);
    const bad = actual.length !== expected.length ? 0 : expected.findIndex((n, i) => actual[i] !== n);
    if (bad >= 0)
      throw new ShapeMismatchError(
        files.fileOf(full),
        full,
        expected,
        actual,
        dims[bad]!.field,
        `[${dims.map((d) => d.label).join(", ")}]`,
      );
    used.add(full);
    return storedTensor(expected, files.stored(full), files.source(full));
  };
  /** A bias exactly when the config says so: one the config does not expect is a different model. */
  const optional = (full: string, dims: Dim[], present: boolean, why: string): Tensor | undefined => {
    if (present) return tensor(full, dims);
    if (files.has(full)) throw new UnexpectedTensorError(files.fileOf(full), full, `config.json says ${why}`);
    return undefined;
  };
  const linear = (name: string, inDim: Dim, outDim: Dim, bias: boolean, why: string): Linear => {
    const weight = tensor(`${name}.weight`, names.layout === "in-out" ? [inDim, outDim] : [outDim, inDim]);
    const b = optional(`${name}.bias`, [outDim], bias, why);
    return b === undefined ? { weight } : { weight, bias: b };
  };
  const norm = (name: string, width: Dim = D): Norm => {
    const weight = tensor(`${name}.weight`, [width]);
    const bias = optional(`${name}.bias`, [width], config.norm === "layernorm", "its norms are RMSNorms, without bias");
    return bias === undefined ? { weight } : { weight, bias };
  };

  const attnBias = `the attention has no bias there (${config.architecture})`;
  const mlpBias = `the MLP has no bias (${config.architecture})`;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayer; l++) {
    const p = `${prefix}${names.layer.replace("{l}", String(l))}.`;
    const a = names.attn;
    const qkv: QkvWeights =
      "fused" in a
        ? {
            fused: linear(p + a.fused, D, dim(3 * Q.size, `3*${Q.label}`, Q.field), config.bias.qkv, attnBias),
            order: a.order,
          }
        : {
            q: linear(p + a.q, D, Q, config.bias.qkv, attnBias),
            k: linear(p + a.k, D, KV, config.bias.qkv, attnBias),
            v: linear(p + a.v, D, KV, config.bias.qkv, attnBias),
          };
    const layer: LayerWeights = {
      attnNorm: norm(p + names.attnNorm),
      qkv,
      out: linear(p + names.out, Q, D, config.bias.out, attnBias),
      mlpIn: linear(p + names.mlpIn, D, F, config.bias.mlp, mlpBias),
      mlpOut: linear(p + names.mlpOut, F, D, config.bias.mlp, mlpBias),
    };
    if (config.qkNorm) {
      layer.qNorm = tensor(`${p}${names.qNorm}.weight`, [Dh]);
      layer.kNorm = tensor(`${p}${names.kNorm}.weight`, [Dh]);
    }
    if (config.parallel !== "shared-norm") layer.mlpNorm = norm(p + names.mlpNorm!);
    if (config.mlp === "swiglu") layer.mlpGate = linear(p + names.mlpGate!, D, F, config.bias.mlp, mlpBias);
    layers.push(layer);
  }

  const embed = tensor(prefix + names.embed, [V, D]);
  const weights: ModelWeights = {
    layout: names.layout,
    embed,
    layers,
    finalNorm: norm(prefix + names.finalNorm),
    unembed: embed,
  };
  if (names.positions !== undefined)
    weights.positions = tensor(prefix + names.positions, [dim(config.nPositions, k.positions), D]);
  // The unembedding sits outside the base model's prefix in *ForCausalLM exports. A tied
  // checkpoint may still save it (a copy of the embedding): check its shape, unembed with the embedding.
  const unembedName = `${names.unembed}.weight`;
  if (!config.tiedEmbeddings || files.has(unembedName)) {
    const unembed = tensor(unembedName, [V, D]);
    if (!config.tiedEmbeddings) weights.unembed = unembed;
  }
  const unembedBias = optional(`${names.unembed}.bias`, [V], config.bias.unembed, "the unembedding has no bias");
  if (unembedBias !== undefined) weights.unembedBias = unembedBias;

  checkAllUsed(files, names, prefix, config, used);
  return weights;
}

/** Every tensor in the files must have been read, or be a buffer of an existing layer. */
function checkAllUsed(
  files: WeightFiles,
  names: TensorNames,
  prefix: string,
  config: ModelConfig,
  used: Set<string>,
): void {
  const layerPattern = new RegExp(`^${names.layer.replace(".", "\\.").replace("{l}", "(\\d+)")}\\.(.*)$`);
  for (const name of files.names) {
    if (used.has(name)) continue;
    const local = name.startsWith(prefix) ? name.slice(prefix.length) : name;
    const layer = layerPattern.exec(local);
    if (layer !== null && Number(layer[1]) < config.nLayer && names.buffers.test(layer[2]!)) continue;
    const detail =
      layer !== null && Number(layer[1]) >= config.nLayer
        ? `layer ${layer[1]} but config.json field ${FAMILIES[config.architecture].keys.layers} is ${config.nLayer}`
        : `not part of a ${config.architecture} checkpoint${prefix === "" ? "" : ` with prefix "${prefix}"`}`;
    throw new UnexpectedTensorError(files.fileOf(name), name, detail);
  }
}

/** Every distinct weight tensor of a model (a tied unembedding once). */
export function allTensors(w: ModelWeights): Tensor[] {
  const seen = new Map<unknown, Tensor>();
  const add = (t: Tensor | undefined) => {
    if (t !== undefined && !seen.has(tensorKey(t))) seen.set(tensorKey(t), t);
  };
  const addLinear = (l: Linear | undefined) => {
    add(l?.weight);
    add(l?.bias);
  };
  add(w.embed);
  add(w.positions);
  add(w.unembed);
  add(w.unembedBias);
  add(w.finalNorm.weight);
  add(w.finalNorm.bias);
  for (const l of w.layers) {
    add(l.attnNorm.weight);
    add(l.attnNorm.bias);
    add(l.mlpNorm?.weight);
    add(l.mlpNorm?.bias);
    add(l.qNorm);
    add(l.kNorm);
    if ("fused" in l.qkv) addLinear(l.qkv.fused);
    else {
      addLinear(l.qkv.q);
      addLinear(l.qkv.k);
      addLinear(l.qkv.v);
    }
    addLinear(l.out);
    addLinear(l.mlpIn);
    addLinear(l.mlpGate);
    addLinear(l.mlpOut);
  }
  return [...seen.values()];
}

/** Bytes of the model's weights in float32, as the engine computes with them (the model cache's budget unit). */
export function weightBytes(w: ModelWeights): number {
  return allTensors(w).reduce((n, t) => n + 4 * sizeOf(t.shape), 0);
}
