/**
 * The sweep limits' flags (--max-sweep-bytes, --max-yaml-depth, --max-yaml-aliases, --max-cells,
 * --max-shards), one list for every command that reads sweep files: `cna coordinator` bounds what
 * clients submit, `cna run` what it plans here. A refusal names the flag, so the command that
 * printed it must take it.
 */
import { DEFAULT_SWEEP_LIMITS, LIMIT_FLAGS, MAX_YAML_DEPTH, resolveSweepLimits } from "../core/index.ts";
import type { SweepLimits } from "../core/index.ts";
import { integerFlag, stringFlag } from "./args.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import { UsageError } from "./errors.ts";

/** What each sweep limit bounds, for its flag's help. */
const LIMIT_HELP: Readonly<Record<keyof SweepLimits, string>> = {
  maxSweepBytes: "bytes of a sweep file",
  maxYamlDepth: `nesting depth of a sweep file's YAML, up to ${MAX_YAML_DEPTH}`,
  maxYamlAliases: "YAML aliases in a sweep file",
  maxCells: "cells of a sweep (models × operators × digit ranges × templates)",
  maxShards: "shards of a sweep, all stages",
};

const KEYS = Object.keys(LIMIT_FLAGS) as Array<keyof SweepLimits>;

export const SWEEP_LIMIT_FLAGS: readonly FlagSpec[] = KEYS.map((k) => ({
  name: LIMIT_FLAGS[k].slice(2),
  value: "N",
  help: `most ${LIMIT_HELP[k]} accepted (default ${DEFAULT_SWEEP_LIMITS[k]})`,
}));

/** The sweep limits, from their flags where given; a bad value is a UsageError naming its flag. */
export function sweepLimitsOf(v: FlagValues): SweepLimits {
  const out: Partial<SweepLimits> = {};
  for (const k of KEYS) {
    const text = stringFlag(v, LIMIT_FLAGS[k].slice(2));
    if (text === undefined) continue;
    const n = integerFlag(LIMIT_FLAGS[k], text, 1);
    if (k === "maxYamlDepth" && n > MAX_YAML_DEPTH) {
      throw new UsageError(
        LIMIT_FLAGS[k],
        `${LIMIT_FLAGS[k]} must be at most ${MAX_YAML_DEPTH}: a sweep file nested deeper could run the YAML parser out of stack (got ${text})`,
      );
    }
    out[k] = n;
  }
  return resolveSweepLimits(out);
}
