/**
 * Typed errors shared by every deployable.
 *
 * Each failure is one class with a stable string `code` and a `retryable` flag. Code that
 * decides what to do with a failure (retry the shard, give up, report to the user) must read
 * `code` and `retryable`, never `instanceof`: once an error has crossed a process boundary
 * (gRPC, NATS) only those fields survive, and {@link errorInfo} is how they travel.
 */

/** What survives of a {@link CnaError} on the wire. */
export interface ErrorInfo {
  code: string;
  message: string;
  retryable: boolean;
}

export interface CnaErrorOptions {
  code: string;
  retryable: boolean;
  cause?: unknown;
}

/** Base class of every error this project throws on purpose. */
export class CnaError extends Error {
  /** Stable identifier, e.g. `BAD_SPEC`; part of the wire contract, so never renamed. */
  readonly code: string;
  /** True when the same work may succeed if tried again (a flaky disk, a lost connection). */
  readonly retryable: boolean;

  constructor(message: string, options: CnaErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retryable = options.retryable;
  }

  toJSON(): ErrorInfo {
    return errorInfo(this);
  }
}

/**
 * An invalid input: a sweep file field, a CLI flag, a function argument that came from a user.
 * `field` names what was wrong (`op`, `digits`, `sample`, ...); the message lists the allowed
 * values, so the user can fix the input without reading code.
 */
export class SpecError extends CnaError {
  readonly field: string;

  constructor(field: string, message: string, cause?: unknown) {
    super(message, { code: "BAD_SPEC", retryable: false, cause });
    this.field = field;
  }
}

/**
 * A text could not be turned into cases: the tokenizer does not know a character, or it merged
 * tokens across the prompt/answer boundary so that the prompt's ids are not a prefix of the
 * prompt+answer ids. Retrying cannot help: the same tokenizer gives the same ids.
 */
export class TokenizationError extends CnaError {
  /** The text whose tokenization failed (usually the prompt). */
  readonly text: string;

  constructor(text: string, message: string, cause?: unknown) {
    super(message, { code: "TOKENIZATION_FAILED", retryable: false, cause });
    this.text = text;
  }
}

/**
 * The wire form of any thrown value. A value that already carries `code`, `message` and
 * `retryable` (a CnaError, or one rebuilt from the wire) keeps them. Errors we did not class
 * are terminal with code `INTERNAL`: retrying an unknown bug only burns the retry budget.
 */
export function errorInfo(err: unknown): ErrorInfo {
  if (typeof err === "object" && err !== null) {
    const { code, message, retryable } = err as Partial<Record<keyof ErrorInfo, unknown>>;
    if (typeof code === "string" && typeof retryable === "boolean") {
      return { code, message: typeof message === "string" ? message : code, retryable };
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: "INTERNAL", message, retryable: false };
}

/** Formats a list of allowed values for an error message: `"+", "-", "*" or "/"`. */
export function formatAllowed(values: readonly (string | number)[]): string {
  const quoted = values.map((v) => (typeof v === "string" ? JSON.stringify(v) : String(v)));
  if (quoted.length <= 1) return quoted.join("");
  return `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

/** Renders a user-supplied value for an error message without dumping huge objects. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  let text: string;
  try {
    text = JSON.stringify(value) ?? `a ${typeof value}`; // undefined for functions and symbols
  } catch {
    // a bigint, or an object holding one or a cycle (String() would say "[object Object]")
    text = typeof value === "bigint" ? value.toString() : "an object JSON cannot write";
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * A model's files are not the ones the work was planned with: resuming or merging would label
 * one model's results with another's weights. `files` names what changed (config.json,
 * model.safetensors, ...). Terminal: the files must be put back, or the sweep started fresh.
 */
export class ModelChangedError extends CnaError {
  constructor(
    readonly model: string,
    readonly files: readonly string[],
    message: string,
  ) {
    super(message, { code: "MODEL_CHANGED", retryable: false });
  }
}

/**
 * A model path outside every directory this process may read models from (`--models-root`):
 * a sweep from the network must not make a server open arbitrary files. Never names contents.
 */
export class ModelPathError extends CnaError {
  constructor(
    readonly field: string,
    readonly path: string,
    readonly roots: readonly string[],
  ) {
    super(
      `${field} ${path} is outside the model roots (${roots.join(", ")}); put the model under one of them or add its directory with --models-root`,
      {
        code: "MODEL_PATH_OUTSIDE_ROOTS",
        retryable: false,
      },
    );
  }
}
