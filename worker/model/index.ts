/**
 * worker/model — reads Hugging Face-layout checkpoints (config.json, model.safetensors,
 * tokenizer.json) into validated float32 weights and a tokenizer, for every family in families.ts.
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from "./model/index.ts";
 *
 * const ckpt = await loadCheckpoint("models/arith-2l-d64"); // throws ModelError (code, path)
 * ckpt.config.nLayer;                        // 2
 * ckpt.weights.layers[0]!.attnQkv.weight;    // { data: Float32Array, shape: [64, 192] }
 * ckpt.tokenizer.encode("3+5=");             // [5, 12, 7, 16]
 * ckpt.digest;                               // sha256 of model.safetensors
 * ```
 */
export { loadCheckpoint, readModelHeads } from "./checkpoint.ts";
export type { Checkpoint } from "./checkpoint.ts";

export { parseModelConfig, SUPPORTED_ARCHITECTURES, TORCH_DTYPES } from "./config.ts";
export type { Activation, Architecture, ModelConfig, NormKind, RopeScaling, Rotary, TorchDtype } from "./config.ts";

export { loadGpt2Weights } from "./gpt2-weights.ts";
export type { Affine, Gpt2Layer, Gpt2Weights, Tensor } from "./gpt2-weights.ts";

export { FLOAT_DTYPES, openSafetensors, parseSafetensors } from "./safetensors.ts";
export type { SafetensorsFile, TensorInfo } from "./safetensors.ts";

export { loadTokenizer } from "./tokenizer.ts";
export { checkpointFiles, combineDigests, digestCheckpoint, digestModels } from "./digest.ts";
export type { ModelTokenizer } from "./tokenizer.ts";

export {
  BadConfigError,
  BadTokenizerError,
  MissingTensorError,
  ModelError,
  ModelNotFoundError,
  SafetensorsCorruptError,
  SafetensorsTruncatedError,
  ShapeMismatchError,
  UnexpectedTensorError,
  UnknownDtypeError,
  UnsupportedArchitectureError,
} from "./errors.ts";
export type { ModelErrorCode } from "./errors.ts";
