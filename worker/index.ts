/**
 * worker — the GPU-side deployable. So far: checkpoint loading (worker/model). The ONNX
 * engine, analyses and shard runtime will be exported from here as they land.
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from "../worker/index.ts";
 *
 * const { config, weights, tokenizer, digest } = await loadCheckpoint("models/arith-2l-d64");
 * ```
 */
export {
  BadConfigError,
  BadTokenizerError,
  FLOAT_DTYPES,
  MissingTensorError,
  ModelError,
  ModelNotFoundError,
  SUPPORTED_ARCHITECTURES,
  SafetensorsCorruptError,
  SafetensorsTruncatedError,
  ShapeMismatchError,
  UnexpectedTensorError,
  UnknownDtypeError,
  UnsupportedArchitectureError,
  loadCheckpoint,
  loadGpt2Weights,
  loadTokenizer,
  openSafetensors,
  parseModelConfig,
  parseSafetensors,
} from "./model/index.ts";
export type {
  Activation,
  Affine,
  Architecture,
  Checkpoint,
  Gpt2Layer,
  Gpt2Weights,
  ModelConfig,
  ModelErrorCode,
  ModelTokenizer,
  SafetensorsFile,
  Tensor,
  TensorInfo,
} from "./model/index.ts";
