/**
 * Failures of the benchmarks themselves (not of the engine they measure). Terminal: running
 * the same command again fails the same way.
 */
import { CnaError } from "../core/index.ts";

/** A bad command line: unknown benchmark, flag or value. `field` names the flag. */
export class BenchUsageError extends CnaError {
  readonly field: string;

  constructor(field: string, message: string, cause?: unknown) {
    super(message, { code: "BAD_BENCH_ARGS", retryable: false, cause });
    this.field = field;
  }
}

/** A model the benchmark needs is not there (e.g. the zoo model has not been trained yet). */
export class BenchModelMissingError extends CnaError {
  readonly dir: string;

  constructor(dir: string, message: string, cause?: unknown) {
    super(message, { code: "BENCH_MODEL_MISSING", retryable: false, cause });
    this.dir = dir;
  }
}

/** The compiled build a benchmark times is missing or older than the sources (`npm run build`). */
export class BenchBuildStaleError extends CnaError {
  readonly dir: string;

  constructor(dir: string, message: string) {
    super(message, { code: "BENCH_BUILD_STALE", retryable: false });
    this.dir = dir;
  }
}
