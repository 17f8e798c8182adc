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
