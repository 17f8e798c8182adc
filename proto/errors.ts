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
  NATS_AUTH_FAILED: status.FAILED_PRECONDITION,
  TLS_INVALID: status.FAILED_PRECONDITION,
  DATA_DIR_UNWRITABLE: status.FAILED_PRECONDITION,
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

/**
 * A TLS file that cannot be used: not PEM of the kind its option says, or a private key that is
 * not the certificate's. `field` names the option (`tls.keyPath`); the message names the files.
 */
export class TlsConfigError extends CnaError {
  constructor(
    readonly field: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { code: "TLS_INVALID", retryable: false, cause });
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
  const retry = alsoRetryable.includes(err.code);
  if (typeof fromServer === "string" && fromServer !== "")
    return new GrpcCallError(err.code, fromServer, err.details || err.message, retry, err);
  // the transport's own size limit, enforced by grpc-js before any handler (so without our code)
  if (err.code === status.RESOURCE_EXHAUSTED && /larger than max/i.test(err.details || ""))
    return new GrpcCallError(
      err.code,
      "MESSAGE_TOO_LARGE",
      `the message is over the server's size limit (${err.details}); its --max-message-bytes raises it`,
      retry,
      err,
    );
  const unconnected = err.code === status.UNAVAILABLE ? connectionFailure(err.details || "") : null;
  if (unconnected) return new GrpcCallError(err.code, unconnected.code, unconnected.message, retry, err);
  return new GrpcCallError(err.code, `GRPC_${status[err.code] ?? err.code}`, err.details || err.message, retry, err);
}

/**
 * What a call that never reached the server means, in words: grpc-js reports every failed
 * connection as "No connection established. Last error: <OpenSSL or socket error>". A TLS
 * failure gets TLS_HANDSHAKE_FAILED and says which side to fix (the flags are cna's); the rest
 * keep GRPC_UNAVAILABLE with the socket error. Still UNAVAILABLE, so still retryable: a worker
 * keeps its shards while someone fixes the certificates.
 */
function connectionFailure(details: string): { code: string; message: string } | null {
  if (!details.startsWith("No connection established")) return null;
  const last = /Last error: (?:Error: )?([\s\S]*?)(?:\. Resolution note:|$)/.exec(details)?.[1] ?? details;
  const tls = (why: string) => ({ code: "TLS_HANDSHAKE_FAILED", message: `cannot connect: ${why}` });
  if (/certificate required/i.test(last))
    return tls("the server requires a client certificate: give --tls-cert and --tls-key, signed by a CA it trusts");
  if (/unable to verify|self.signed|unable to get local issuer|certificate verify failed/i.test(last))
    return tls(
      `the server's certificate is not signed by a CA this client trusts (${/unable to verify[^.:]*|self.signed[^.:]*|unable to get local issuer[^.:]*|certificate verify failed/i.exec(last)?.[0]}): give the CA that signed it with --tls-ca`,
    );
  if (/Hostname\/IP does not match|altnames/i.test(last))
    return tls("the server's certificate is not for this address: connect by a name or IP its certificate lists");
  if (/wrong version number|packet length too long|unknown protocol/i.test(last))
    return tls(
      "the server does not speak TLS on this port: leave out --tls-ca, --tls-cert and --tls-key, or use its TLS port",
    );
  if (/^Failed to connect\b/.test(last))
    return {
      code: "GRPC_UNAVAILABLE",
      message:
        "cannot connect: the server closed the connection while it was being set up (if it serves TLS, give --tls-ca)",
    };
  return { code: "GRPC_UNAVAILABLE", message: `cannot connect: ${last.split("\n")[0]!.trim()}` };
}
