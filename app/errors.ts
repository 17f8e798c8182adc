/**
 * Errors of the composition roots. Bad options are SpecErrors naming the field (core); what is
 * here is about a started thing's life.
 */
import { CnaError } from "../core/index.ts";

/**
 * A local run was closed before its sweep finished. Nothing is lost: what was stored stays in
 * the data directory, and a run on the same directory resumes from it.
 */
export class RunClosedError extends CnaError {
  readonly sweepId: string;

  constructor(sweepId: string, dataDir: string) {
    super(`sweep ${sweepId}: the run was closed before the sweep finished; run it again on ${dataDir} to resume`, {
      code: "RUN_CLOSED",
      retryable: true,
    });
    this.sweepId = sweepId;
  }
}

/**
 * A worker was given a namespace (`transport.nats.namespace`, the CLI's --namespace or
 * $CNA_NAMESPACE) other than the one of the coordinator it reports to, or a coordinator whose
 * shards do not go through NATS: it would pull shards that coordinator never published. Terminal:
 * fix the namespace or the coordinator address.
 */
export class NamespaceMismatchError extends CnaError {
  readonly field: string;

  constructor(field: string, message: string) {
    super(message, { code: "NAMESPACE_MISMATCH", retryable: false });
    this.field = field;
  }
}

/**
 * A coordinator or worker was told to stop (SIGTERM, SIGINT) while it was still starting, e.g.
 * waiting for NATS: nothing was started, and nothing is left open.
 */
export class StartAbortedError extends CnaError {
  constructor(message: string) {
    super(message, { code: "START_ABORTED", retryable: false });
  }
}
