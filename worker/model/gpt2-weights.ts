/**
 * GPT-2 weights from a safetensors file, named and shape-checked against config.json.
 *
 * HF GPT-2 stores linear layers as Conv1D, weight [in, out], so x @ weight + bias; we keep
 * that layout. Real GPT-2 checkpoints name tensors `h.0.attn.c_attn.weight`; GPT2LMHeadModel
 * exports (the zoo) prefix them with `transformer.`; both load. Every tensor the architecture
 * needs must be there with the config's shape, and every tensor in the file must be one of
 * them or a known buffer: a stray `h.12.*` under n_layer 12 means the config and the weights
 * describe different models, and analysing either would be wrong.
 */
import type { ModelConfig } from "./config.ts";
import { MissingTensorError, ShapeMismatchError, UnexpectedTensorError } from "./errors.ts";
import type { SafetensorsFile } from "./safetensors.ts";

/** A row-major float32 tensor. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
  /** Where the same float32 bytes sit in the checkpoint file (F32 tensors only), so a graph can point at them. */
  source?: { file: string; offset: number; length: number };
}

export interface Affine {
  weight: Tensor;
  bias: Tensor;
}

export interface Gpt2Layer {
  ln1: Affine; // weight, bias: [d_model]
  attnQkv: Affine; // weight: [d_model, 3*d_model] (q | k | v, heads contiguous), bias: [3*d_model]
  attnOut: Affine; // W_O — weight: [d_model, d_model], bias: [d_model]
  ln2: Affine; // weight, bias: [d_model]
  mlpIn: Affine; // weight: [d_model, d_mlp], bias: [d_mlp]
  mlpOut: Affine; // W_out — weight: [d_mlp, d_model], bias: [d_model]
}

export interface Gpt2Weights {
  wte: Tensor; // [vocab, d_model]; also the unembedding when tied
  wpe: Tensor; // [n_positions, d_model]
  layers: Gpt2Layer[]; // [n_layer]
  lnF: Affine; // weight, bias: [d_model]
  /** Only when config.tiedEmbeddings is false. */
  lmHead?: Tensor; // [vocab, d_model]
}

/** A dimension as config.json spells it, so a mismatch can name the field to check. */
type Dim = "n_embd" | "3*n_embd" | "n_inner" | "vocab_size" | "n_positions";
const FIELD_OF: Readonly<Record<Dim, string>> = {
  n_embd: "n_embd",
  "3*n_embd": "n_embd",
  n_inner: "n_inner",
  vocab_size: "vocab_size",
  n_positions: "n_positions",
};

/** HF attention buffers (causal mask, masking constant): not weights, recomputed by the engine. */
const BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** `path` names the file in errors (defaults to the file's own path). */
export function loadGpt2Weights(file: SafetensorsFile, config: ModelConfig, path: string = file.path): Gpt2Weights {
  const sizes: Readonly<Record<Dim, number>> = {
    n_embd: config.dModel,
    "3*n_embd": 3 * config.dModel,
    n_inner: config.dMlp,
    vocab_size: config.vocabSize,
    n_positions: config.nPositions,
  };
  const prefix = file.has("transformer.wte.weight") ? "transformer." : "";
  const used = new Set<string>();

  /** Checks that `full` exists with shape `dims` and marks it used; returns the shape. */
  const check = (full: string, dims: Dim[], tried = ""): number[] => {
    if (!file.has(full)) throw new MissingTensorError(path, full, tried);
    const actual = file.info(full).shape;
    const expected = dims.map((d) => sizes[d]);
    const bad = actual.length !== expected.length ? 0 : expected.findIndex((n, i) => actual[i] !== n);
    if (bad >= 0) {
      throw new ShapeMismatchError(path, full, expected, actual, FIELD_OF[dims[bad]!], `[${dims.join(", ")}]`);
    }
    used.add(full);
    return expected;
  };
  const tensor = (name: string, dims: Dim[]): Tensor => {
    const full = prefix + name;
    const shape = check(full, dims, prefix === "" ? ` (nor "transformer.${name}")` : "");
    return withSource(file, full, { data: file.getFloat32(full), shape });
  };
  const affine = (name: string, weightDims: Dim[], biasDim: Dim): Affine => ({
    weight: tensor(`${name}.weight`, weightDims),
    bias: tensor(`${name}.bias`, [biasDim]),
  });

  const wte = tensor("wte.weight", ["vocab_size", "n_embd"]);
  const wpe = tensor("wpe.weight", ["n_positions", "n_embd"]);
  const layers: Gpt2Layer[] = [];
  for (let l = 0; l < config.nLayer; l++) {
    const h = `h.${l}`;
    layers.push({
      ln1: affine(`${h}.ln_1`, ["n_embd"], "n_embd"),
      attnQkv: affine(`${h}.attn.c_attn`, ["n_embd", "3*n_embd"], "3*n_embd"),
      attnOut: affine(`${h}.attn.c_proj`, ["n_embd", "n_embd"], "n_embd"),
      ln2: affine(`${h}.ln_2`, ["n_embd"], "n_embd"),
      mlpIn: affine(`${h}.mlp.c_fc`, ["n_embd", "n_inner"], "n_inner"),
      mlpOut: affine(`${h}.mlp.c_proj`, ["n_inner", "n_embd"], "n_embd"),
    });
  }
  const lnF = affine("ln_f", ["n_embd"], "n_embd");

  // lm_head.weight sits outside the `transformer.` prefix in GPT2LMHeadModel exports. A tied
  // checkpoint may still save it (a copy of wte): check its shape, but unembed with wte.
  const lmHeadName = "lm_head.weight";
  let lmHead: Tensor | undefined;
  if (!config.tiedEmbeddings) {
    lmHead = withSource(file, lmHeadName, { shape: check(lmHeadName, ["vocab_size", "n_embd"]), data: file.getFloat32(lmHeadName) });
  } else if (file.has(lmHeadName)) {
    check(lmHeadName, ["vocab_size", "n_embd"]);
  }

  for (const name of file.names) {
    if (used.has(name)) continue;
    const local = name.startsWith(prefix) ? name.slice(prefix.length) : name;
    if (BUFFER.test(local) && Number(local.split(".")[1]) < config.nLayer) continue;
    const layer = /^h\.(\d+)\./.exec(local);
    const detail =
      layer !== null && Number(layer[1]) >= config.nLayer
        ? `layer ${layer[1]} but config.json field n_layer is ${config.nLayer}`
        : `not part of a GPT-2 checkpoint${prefix === "" ? "" : ` with prefix "${prefix}"`}`;
    throw new UnexpectedTensorError(path, name, detail);
  }

  return lmHead === undefined ? { wte, wpe, layers, lnF } : { wte, wpe, layers, lnF, lmHead };
}

/** Bytes of float32 weights a checkpoint holds in memory (the model cache's budget unit). */
export function weightBytes(w: Gpt2Weights): number {
  let n = w.wte.data.byteLength + w.wpe.data.byteLength + (w.lmHead?.data.byteLength ?? 0);
  for (const l of w.layers) for (const a of Object.values(l)) n += a.weight.data.byteLength + a.bias.data.byteLength;
  n += w.lnF.weight.data.byteLength + w.lnF.bias.data.byteLength;
  return n;
}

function withSource(file: SafetensorsFile, name: string, t: Tensor): Tensor {
  const info = file.info(name);
  if (info.dtype !== "F32") return t;
  const [begin, end] = info.dataOffsets;
  return { ...t, source: { file: file.path, offset: file.dataStart + begin, length: end - begin } };
}
