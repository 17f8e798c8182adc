/**
 * Flag parsing every benchmark shares: node:util's parseArgs with a usage error that ends in the
 * benchmark's own help, and bounded integer flags named in their error.
 */
import { parseArgs } from "node:util";
import type { ParseArgsConfig } from "node:util";
import { BenchUsageError } from "./errors.ts";

export type FlagValues = Record<string, string | boolean | undefined>;

/** argv parsed strictly (no positionals) against `options`; an unknown or malformed flag is a BenchUsageError followed by `usage`. */
export function parseBenchFlags(
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  usage: string,
): FlagValues {
  try {
    return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options }).values as FlagValues;
  } catch (err) {
    throw new BenchUsageError("", `${(err as Error).message.split(". ")[0]}\n\n${usage}`, err);
  }
}

/** The integer value of `--flag`, `fallback` when absent; anything else than an integer in [min, max] is refused naming the flag. */
export function integerFlag(
  values: FlagValues,
  flag: string,
  [min, max]: readonly [number, number],
  fallback: number,
): number {
  const text = values[flag];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (typeof text !== "string" || text.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new BenchUsageError(
      `--${flag}`,
      `--${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`,
    );
  }
  return n;
}
