/**
 * Errors of checkpoint loading. All are terminal: a checkpoint that is missing, corrupt or of
 * an unsupported shape stays that way however often a shard is retried, so the scheduler must
 * give up at once and tell the user which file to fix. Every error carries that file's path.
 */
import { CnaError } from "../../core/index.ts";

export type ModelErrorCode =
  | "MODEL_NOT_FOUND"
  | "SAFETENSORS_TRUNCATED"
  | "SAFETENSORS_CORRUPT"
  | "UNKNOWN_DTYPE"
  | "MISSING_TENSOR"
  | "UNEXPECTED_TENSOR"
  | "SHAPE_MISMATCH"
  | "UNSUPPORTED_ARCHITECTURE"
  | "BAD_CONFIG"
  | "BAD_TOKENIZER";

export class ModelError extends CnaError {
  declare readonly code: ModelErrorCode;
  /** The file (or directory) at fault. */
  readonly path: string;

  constructor(code: ModelErrorCode, path: string, message: string, cause?: unknown) {
    super(message, { code, retryable: false, cause });
    this.path = path;
  }
}

/** A checkpoint directory or one of its files does not exist or cannot be read. */
export class ModelNotFoundError extends ModelError {
  constructor(path: string, message: string, cause?: unknown) {
    super("MODEL_NOT_FOUND", path, message, cause);
  }
}

/** The file ends before its header says it should (an interrupted download or copy). */
export class SafetensorsTruncatedError extends ModelError {
  constructor(path: string, message: string) {
    super("SAFETENSORS_TRUNCATED", path, message);
  }
}

/** The header is not valid safetensors: bad JSON, absurd length, overlapping or stray offsets. */
export class SafetensorsCorruptError extends ModelError {
  constructor(path: string, message: string, cause?: unknown) {
    super("SAFETENSORS_CORRUPT", path, message, cause);
  }
}

export class UnknownDtypeError extends ModelError {
  readonly tensor: string;
  readonly dtype: string;

  constructor(path: string, tensor: string, dtype: string, supported: readonly string[]) {
    super(
      "UNKNOWN_DTYPE",
      path,
      `${path}: tensor "${tensor}" has dtype "${dtype}" (supported: ${supported.join(", ")})`,
    );
    this.tensor = tensor;
    this.dtype = dtype;
  }
}

export class MissingTensorError extends ModelError {
  readonly tensor: string;

  constructor(path: string, tensor: string, detail = "") {
    super("MISSING_TENSOR", path, `${path}: tensor "${tensor}" is missing${detail}`);
    this.tensor = tensor;
  }
}

/**
 * A tensor the architecture does not have, e.g. `h.12.*` when config.json says 12 layers:
 * loading anyway would analyse a different model than the file holds.
 */
export class UnexpectedTensorError extends ModelError {
  readonly tensor: string;

  constructor(path: string, tensor: string, detail: string) {
    super("UNEXPECTED_TENSOR", path, `${path}: unexpected tensor "${tensor}" (${detail})`);
    this.tensor = tensor;
  }
}

export class ShapeMismatchError extends ModelError {
  readonly tensor: string;
  readonly expected: readonly number[];
  readonly actual: readonly number[];
  /** The config.json field that sets the mismatching dimension, e.g. `n_inner`. */
  readonly field: string;

  constructor(
    path: string,
    tensor: string,
    expected: readonly number[],
    actual: readonly number[],
    field: string,
    dims: string,
  ) {
    super(
      "SHAPE_MISMATCH",
      path,
      `${path}: tensor "${tensor}" has shape [${actual.join(", ")}], expected [${expected.join(", ")}] = ${dims} ` +
        `(check config.json field ${field})`,
    );
    this.tensor = tensor;
    this.expected = expected;
    this.actual = actual;
    this.field = field;
  }
}

export class UnsupportedArchitectureError extends ModelError {
  readonly architecture: string;

  constructor(configPath: string, architecture: string, supported: readonly string[]) {
    super(
      "UNSUPPORTED_ARCHITECTURE",
      configPath,
      `unsupported architecture "${architecture}" in ${configPath} (supported: ${supported.join(", ")})`,
    );
    this.architecture = architecture;
  }
}

/** config.json (or the checkpoint as a whole) contradicts itself; `field` names the culprit. */
export class BadConfigError extends ModelError {
  readonly field: string;

  constructor(path: string, field: string, message: string, cause?: unknown) {
    super("BAD_CONFIG", path, `${path}: ${message}`, cause);
    this.field = field;
  }
}

/** tokenizer.json or tokenizer_config.json is not valid JSON or not a tokenizer we can run. */
export class BadTokenizerError extends ModelError {
  constructor(path: string, message: string, cause?: unknown) {
    super("BAD_TOKENIZER", path, `${path}: ${message}`, cause);
  }
}
