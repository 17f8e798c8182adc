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
 * ckpt.weights.layers[0]!.out.weight;        // { data: Float32Array (read on first use), shape: [64, 64], source, stored }
 * ckpt.tokenizer.encode("3+5=");             // [5, 12, 7, 16]
 * ckpt.digest;                               // sha256 over config, tokenizer and weight files
 * ```
 */
export { loadCheckpoint, readModelHeads } from "./checkpoint.ts";
export type { Checkpoint } from "./checkpoint.ts";

export { parseModelConfig, SUPPORTED_ARCHITECTURES, TORCH_DTYPES } from "./config.ts";
export type { Activation, Architecture, ModelConfig, NormKind, RopeScaling, Rotary, TorchDtype } from "./config.ts";

export { allTensors, loadWeights, sizeOf, storedTensor, tensorKey, tensorRows, weightBytes } from "./weights.ts";
export type { LayerWeights, Linear, ModelWeights, Norm, QkvWeights, Tensor } from "./weights.ts";
export { FAMILIES } from "./families.ts";
export { INDEX_FILE, openWeightFiles, SINGLE_FILE, weightFileNames } from "./weight-files.ts";
export type { TensorSource, WeightFiles } from "./weight-files.ts";

export { FLOAT_DTYPES, openSafetensors, parseSafetensors, readStored } from "./safetensors.ts";
export type { FloatDtype, SafetensorsFile, StoredTensor, TensorInfo } from "./safetensors.ts";

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
