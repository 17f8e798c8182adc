/**
 * Bounds on what one sweep may ask of a coordinator, checked before the work they bound is done:
 * a sweep file submitted over gRPC is text from the network, and a deeply nested, alias-bombed
 * or merely enormous one must be refused with a named error, not exhaust the process.
 *
 * Each limit has a CLI flag that raises it (named in the error), and a default that fits every
 * real sweep this tool is for with room to spare.
 */
import { CnaError, describeValue } from "./errors.ts";

export interface SweepLimits {
  /** bytes of sweep-file text */
  maxSweepBytes: number;
  /** nesting depth of the YAML (mappings and lists inside each other) */
  maxYamlDepth: number;
  /** alias nodes (`*name`) in the YAML: each can expand to a whole subtree */
  maxYamlAliases: number;
  /** cells: models × operators × digit ranges × templates */
  maxCells: number;
  /** shards of every stage of every cell */
  maxShards: number;
}

export const DEFAULT_SWEEP_LIMITS: Readonly<SweepLimits> = {
  maxSweepBytes: 1 << 20,
  maxYamlDepth: 32,
  maxYamlAliases: 100,
  maxCells: 10_000,
  maxShards: 250_000,
};

/**
 * The most --max-yaml-depth may allow. Composing a document recurses once per level and runs out
 * of stack at about a thousand levels; what is checked before composing (scanYaml) lets a
 * contrived text through at about four times the limit, so the limit stays far below that.
 */
export const MAX_YAML_DEPTH = 64;

/** The flag of each limit, as `cna coordinator` takes it. */
export const LIMIT_FLAGS: Readonly<Record<keyof SweepLimits, string>> = {
  maxSweepBytes: "--max-sweep-bytes",
  maxYamlDepth: "--max-yaml-depth",
  maxYamlAliases: "--max-yaml-aliases",
  maxCells: "--max-cells",
  maxShards: "--max-shards",
};

/**
 * A request over a configured limit: `limit` names the option (one of the {@link SweepLimits}, or
 * a server's own, such as `maxResultBytes`), the message names the flag that raises it.
 */
export class LimitExceededError extends CnaError {
  constructor(
    readonly limit: string,
    message: string,
  ) {
    super(message, { code: "LIMIT_EXCEEDED", retryable: false });
  }
}

/** Throws when `value` is over the limit; `what` says what was counted ("the sweep file has 3 MiB"). */
export function checkLimit(limits: SweepLimits, limit: keyof SweepLimits, value: number, what: string): void {
  const max = limits[limit];
  if (value > max)
    throw new LimitExceededError(limit, `${what}, over the limit of ${max} (${LIMIT_FLAGS[limit]} raises it)`);
}

/** Fills in defaults; a limit that is not a positive integer is an error naming it. */
export function resolveSweepLimits(o: Partial<SweepLimits> = {}): SweepLimits {
  const out = { ...DEFAULT_SWEEP_LIMITS };
  for (const key of Object.keys(DEFAULT_SWEEP_LIMITS) as Array<keyof SweepLimits>) {
    const v = o[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 1)
      throw new CnaError(`${key} must be a positive integer, got ${describeValue(v)}`, {
        code: "BAD_SPEC",
        retryable: false,
      });
    if (key === "maxYamlDepth" && v > MAX_YAML_DEPTH)
      throw new CnaError(`${key} must be at most ${MAX_YAML_DEPTH}, got ${v}`, { code: "BAD_SPEC", retryable: false });
    out[key] = v;
  }
  return out;
}
