/**
 * Errors of the random-checkpoint generator. A bad option names the option (as the library
 * spells it, e.g. `kvHeads`; the CLI maps it back to its flag) and what it allows.
 */
import { CnaError } from "../../core/index.ts";

/** An option of RandomCheckpointOptions (or its CLI flag) that cannot make a checkpoint. */
export class CheckpointOptionError extends CnaError {
  /** The option's name in RandomCheckpointOptions: `family`, `heads`, `rotaryPct`, ... */
  readonly field: string;

  constructor(field: string, message: string) {
    super(message, { code: "BAD_CHECKPOINT_OPTION", retryable: false });
    this.field = field;
  }
}
