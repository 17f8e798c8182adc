/**
 * Errors of the engine's inputs: caught before ONNX Runtime sees them, so the user reads which
 * value was wrong instead of a kernel's shape complaint. All terminal: the same input fails again.
 */
import { CnaError } from "../../core/index.ts";

export class EngineInputError extends CnaError {
  /** What was wrong: `sequence`, `token`, `head`, `neuron`, `head mask`, ... */
  readonly field: string;

  constructor(field: string, message: string) {
    super(message, { code: "BAD_ENGINE_INPUT", retryable: false });
    this.field = field;
  }
}

/**
 * The model computed a value that is not a finite number (NaN or ±Infinity): broken weights
 * (a NaN checkpoint, an fp16 overflow), not something a retry fixes. Names the tensor and,
 * for per-layer tensors, the first layer where it appears.
 */
export class NonFiniteError extends CnaError {
  constructor(
    readonly tensor: string,
    readonly layer: number | undefined,
    message: string,
  ) {
    super(message, { code: "NON_FINITE", retryable: false });
  }
}
