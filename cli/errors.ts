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

/** The client config file (cli/config.ts) is malformed; `field` names where ("" for the whole file). */
export class CliConfigError extends CnaError {
  constructor(
    readonly file: string,
    readonly field: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { code: "BAD_CLI_CONFIG", retryable: false, cause });
  }
}

/** A context was asked for (by `source`: --context, $CNA_CONTEXT, current-context) that the config file lacks. */
export class UnknownContextError extends CnaError {
  constructor(
    readonly file: string,
    readonly context: string,
    readonly source: string,
    known: readonly string[],
  ) {
    super(
      `no context ${JSON.stringify(context)} (from ${source}) in ${file}; ${known.length > 0 ? `it has ${known.join(", ")}` : "it has none"} (add one with cna context set NAME --coordinator HOST:PORT)`,
      { code: "UNKNOWN_CONTEXT", retryable: false },
    );
  }
}

/**
 * A call to a coordinator or worker that failed before the server could answer it with one of
 * the project's codes, said the way a person fixes it: which address, which flag or variable.
 */
export type RemoteFailure =
  "UNREACHABLE" | "TLS_HANDSHAKE_FAILED" | "UNAUTHENTICATED" | "PERMISSION_DENIED" | "DEADLINE_EXCEEDED";

export class RemoteCallError extends CnaError {
  declare readonly code: RemoteFailure;

  constructor(
    code: RemoteFailure,
    readonly address: string,
    message: string,
    retryable: boolean,
    cause?: unknown,
  ) {
    super(message, { code, retryable, cause });
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
