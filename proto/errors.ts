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

/** Status for codes that are not decided by `retryable` alone. */
const STATUS_BY_CODE: Readonly<Record<string, status>> = {
  BAD_SPEC: status.INVALID_ARGUMENT,
  BAD_RESULT: status.INVALID_ARGUMENT,
  BAD_REQUEST: status.INVALID_ARGUMENT,
  SWEEP_NOT_FOUND: status.NOT_FOUND,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
};

/** gRPC statuses after which the same call may succeed: the server was away or slow. */
const RETRYABLE_STATUSES: ReadonlySet<status> = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);

/** A request that failed validation at the edge; `field` names what was wrong (`header.sha256`). */
export class BadRequestError extends CnaError {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`, { code: "BAD_REQUEST", retryable: false });
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
 * The status a server call ends with for a thrown value: BAD_SPEC / BAD_RESULT / BAD_REQUEST →
 * INVALID_ARGUMENT, SWEEP_NOT_FOUND → NOT_FOUND, UNAUTHENTICATED → UNAUTHENTICATED, any other
 * retryable error → UNAVAILABLE (the client retries), anything else → INTERNAL.
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
  const code = typeof fromServer === "string" && fromServer !== "" ? fromServer : `GRPC_${status[err.code] ?? err.code}`;
  return new GrpcCallError(err.code, code, err.details || err.message, alsoRetryable.includes(err.code), err);
}
