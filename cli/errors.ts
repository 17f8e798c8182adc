/**
 * Errors of the command line itself. A usage error is the user's typing (a flag, a value), so
 * `cna` answers it with exit code 2 and a pointer to the command's help instead of a code; any
 * other CnaError is a runtime failure (exit 1) reported as `cna: CODE: message`.
 */
import { CnaError } from "../core/index.ts";

/** A bad flag, a missing one, or a value outside what the flag allows. */
export class UsageError extends CnaError {
  /** The flag at fault, e.g. `--op`; "" when the problem is not one flag (an unknown command). */
  readonly flag: string;

  constructor(flag: string, message: string, cause?: unknown) {
    super(message, { code: "USAGE", retryable: false, cause });
    this.flag = flag;
  }
}

/** The result file could not be written (no space, no permission, a directory in the way). */
export class OutputWriteError extends CnaError {
  readonly path: string;

  constructor(path: string, message: string, cause?: unknown) {
    super(message, { code: "OUTPUT_WRITE_FAILED", retryable: false, cause });
    this.path = path;
  }
}

/**
 * A secret that would weaken authentication if taken as given: an empty or whitespace-only token
 * or password (which would otherwise mean "no authentication"), or a token too short to resist
 * guessing. `source` names where it came from (a flag and file, or an environment variable).
 */
export class SecretRejectedError extends CnaError {
  readonly source: string;

  constructor(source: string, message: string) {
    super(message, { code: "SECRET_REJECTED", retryable: false });
    this.source = source;
  }
}

/** A server would listen beyond loopback with neither a token nor TLS, and --insecure was not given. */
export class InsecureListenError extends CnaError {
  readonly address: string;

  constructor(address: string, message: string) {
    super(message, { code: "INSECURE_LISTEN", retryable: false });
    this.address = address;
  }
}

/** `cna rankings PATH`: no rankings.json at PATH (or in the directory PATH names). */
export class RankingsNotFoundError extends CnaError {
  readonly path: string;

  constructor(path: string, message: string, cause?: unknown) {
    super(message, { code: "RANKINGS_NOT_FOUND", retryable: false, cause });
    this.path = path;
  }
}

/**
 * `cna rankings PATH`: the file is there but is not a rankings.json this version reads (not JSON,
 * another schema, a field of the wrong type). The message names the file and the field, never
 * the file's contents.
 */
export class BadRankingsFileError extends CnaError {
  readonly path: string;
  /** the JSON field at fault, e.g. "cells[2].heads"; "" when the whole file is (unreadable, not JSON) */
  readonly field: string;

  constructor(path: string, field: string, message: string, cause?: unknown) {
    super(message, { code: "BAD_RANKINGS_FILE", retryable: false, cause });
    this.path = path;
    this.field = field;
  }
}
