/**
 * Errors at the gRPC edge, both directions, decided in one place.
 *
 * Server side, {@link toGrpcStatus} turns any thrown value into the status a call ends with: the
 * project's stable error code travels in the trailing metadata key `cna-error-code`, and the
 * gRPC status code is chosen from it (table below). Client side, {@link fromGrpcError} turns a
 * failed call back into a {@link CnaError} whose `retryable` says whether trying again may help.
 */
import { Metadata, status } from "@grpc/grpc-js";
import type { ServiceError, StatusObject } from "@grpc/grpc-js";
import { CnaError, errorInfo } from "../core/index.ts";

/** Trailing metadata key carrying the stable `code` of the error that failed a call. */
export const ERROR_CODE_KEY = "cna-error-code";

/**
 * The status of each stable error code; codes not listed are decided by `retryable` alone
 * (UNAVAILABLE: try again; INTERNAL: a bug or an unclassified failure).
 * - INVALID_ARGUMENT: the request itself is wrong and would be wrong anywhere.
 * - NOT_FOUND: it names a sweep, shard or model that does not exist.
 * - FAILED_PRECONDITION: the request is fine but what it points at is not (a corrupt or
 *   changed checkpoint, numbers that are not finite, a broker stream set up for something else):
 *   fix the files or the configuration, not the call.
 * - PERMISSION_DENIED: it asks for something this server will not touch (a path outside its roots).
 * - RESOURCE_EXHAUSTED: it is over a configured limit (the message names the flag that raises it).
 * - UNAVAILABLE: the server (or its broker) is away or going away; the same call may succeed later.
 */
const STATUS_BY_CODE: Readonly<Record<string, status>> = {
  BAD_SPEC: status.INVALID_ARGUMENT,
  BAD_RESULT: status.INVALID_ARGUMENT,
  BAD_REQUEST: status.INVALID_ARGUMENT,
  BAD_ENGINE_INPUT: status.INVALID_ARGUMENT,
  TOKENIZATION_FAILED: status.INVALID_ARGUMENT,
  USAGE: status.INVALID_ARGUMENT,
  SWEEP_NOT_FOUND: status.NOT_FOUND,
  SHARD_NOT_FOUND: status.NOT_FOUND,
  MODEL_NOT_FOUND: status.NOT_FOUND,
  SAFETENSORS_TRUNCATED: status.FAILED_PRECONDITION,
  SAFETENSORS_CORRUPT: status.FAILED_PRECONDITION,
  UNKNOWN_DTYPE: status.FAILED_PRECONDITION,
  MISSING_TENSOR: status.FAILED_PRECONDITION,
  UNEXPECTED_TENSOR: status.FAILED_PRECONDITION,
  SHAPE_MISMATCH: status.FAILED_PRECONDITION,
  UNSUPPORTED_ARCHITECTURE: status.FAILED_PRECONDITION,
  BAD_CONFIG: status.FAILED_PRECONDITION,
  BAD_TOKENIZER: status.FAILED_PRECONDITION,
  MODEL_CHANGED: status.FAILED_PRECONDITION,
  NON_FINITE: status.FAILED_PRECONDITION,
  QUEUE_MISCONFIGURED: status.FAILED_PRECONDITION,
  SWEEP_CANCELLED: status.FAILED_PRECONDITION,
  NOTHING_TO_RERUN: status.FAILED_PRECONDITION,
  NAMESPACE_MISMATCH: status.FAILED_PRECONDITION,
  MODEL_PATH_OUTSIDE_ROOTS: status.PERMISSION_DENIED,
  LIMIT_EXCEEDED: status.RESOURCE_EXHAUSTED,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  SHUTTING_DOWN: status.UNAVAILABLE,
  QUEUE_UNAVAILABLE: status.UNAVAILABLE,
  // a server's queue is closed only as it shuts down: the same call to it restarted may succeed
  QUEUE_CLOSED: status.UNAVAILABLE,
};

/** gRPC statuses after which the same call may succeed: the server was away or slow. */
const RETRYABLE_STATUSES: ReadonlySet<status> = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);

/** A request that failed validation at the edge; `field` names what was wrong (`header.sha256`). */
export class BadRequestError extends CnaError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`, { code: "BAD_REQUEST", retryable: false });
  }
}

/** A server could not listen on its address (taken, not this machine's, not permitted). */
export class ListenError extends CnaError {
  constructor(
    readonly address: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { code: "LISTEN_FAILED", retryable: false, cause });
  }
}

/** A call without the bearer token the server requires, or with another one. */
export class UnauthenticatedError extends CnaError {
  constructor(message: string) {
    super(message, { code: "UNAUTHENTICATED", retryable: false });
  }
}

/** A failed gRPC call as seen by a client. `code` is the server's `cna-error-code` when it sent one. */
export class GrpcCallError extends CnaError {
  constructor(
    readonly grpcStatus: status,
    code: string,
    message: string,
    retryable = false,
    cause?: unknown,
  ) {
    super(message, { code, retryable: retryable || RETRYABLE_STATUSES.has(grpcStatus), cause });
  }
}

/** Maps a stable error code (and its retry class) to the gRPC status the call ends with. */
export function grpcStatusFor(code: string, retryable: boolean): status {
  return STATUS_BY_CODE[code] ?? (retryable ? status.UNAVAILABLE : status.INTERNAL);
}

/**
 * The status a server call ends with for a thrown value: the code's entry in the table above, else
 * UNAVAILABLE for a retryable error (the client retries) and INTERNAL for anything else.
 */
export function toGrpcStatus(err: unknown): StatusObject {
  const info = errorInfo(err);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_KEY, info.code);
  return { code: grpcStatusFor(info.code, info.retryable), details: info.message, metadata };
}

/**
 * A client's view of a failed call: UNAVAILABLE and DEADLINE_EXCEEDED are retryable, the rest
 * terminal — plus `alsoRetryable`, for a caller that knows more (a client that never cancels its
 * own calls can treat CANCELLED as the server cutting them at shutdown).
 */
export function fromGrpcError(err: ServiceError, alsoRetryable: readonly status[] = []): GrpcCallError {
  const fromServer = err.metadata?.get(ERROR_CODE_KEY)[0];
  const code =
    typeof fromServer === "string" && fromServer !== "" ? fromServer : `GRPC_${status[err.code] ?? err.code}`;
  return new GrpcCallError(err.code, code, err.details || err.message, alsoRetryable.includes(err.code), err);
}
