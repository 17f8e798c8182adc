/**
 * Transport errors. Each has a stable `code`; `retryable` says whether the same call may
 * succeed later (the broker restarts, the network comes back) or never will (the stream is
 * configured for something else, the credentials are wrong, the queue was closed).
 */
import { CnaError } from "../core/index.ts";

/** The broker could not be reached, or stopped answering. Retryable: it may come back. */
export class QueueUnavailableError extends CnaError {
  /** the server URL(s) this queue connects to */
  readonly servers: string;

  constructor(servers: string, message: string, cause?: unknown) {
    super(message, { code: "QUEUE_UNAVAILABLE", retryable: true, cause });
    this.servers = servers;
  }
}

/**
 * The broker answered but refuses this queue: an existing stream or consumer with an
 * incompatible configuration, a second consumer on a work-queue stream's subjects, rejected
 * credentials. Terminal: trying again changes nothing until someone changes the configuration.
 */
export class QueueConfigError extends CnaError {
  /** the stream (and consumer, when it is the consumer that does not fit) concerned */
  readonly stream: string;
  readonly consumer: string | null;

  constructor(stream: string, consumer: string | null, message: string, cause?: unknown) {
    super(message, { code: "QUEUE_MISCONFIGURED", retryable: false, cause });
    this.stream = stream;
    this.consumer = consumer;
  }
}

/**
 * The broker refused this client's credentials, or wants some and none were given. Terminal:
 * retrying with the same credentials changes nothing. `given` says which kind was tried.
 */
export class QueueAuthError extends CnaError {
  readonly servers: string;
  readonly given: "none" | "userPass" | "token" | "creds";

  constructor(servers: string, given: QueueAuthError["given"], message: string, cause?: unknown) {
    super(message, { code: "NATS_AUTH_FAILED", retryable: false, cause });
    this.servers = servers;
    this.given = given;
  }
}

/** A call on a queue after close(). Terminal: a closed queue stays closed. */
export class QueueClosedError extends CnaError {
  constructor(what: string) {
    super(`${what}: the queue is closed`, { code: "QUEUE_CLOSED", retryable: false });
  }
}
