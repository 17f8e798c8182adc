/**
 * Durations on the command line: a whole number and a unit, `90s`, `10m`, `12h`, `7d` (or `0`),
 * for the flags that keep or drop things by age (--metrics-sweep-grace, --older-than,
 * --retention). A bare number is refused: "30" could mean seconds or days.
 */
import { describeValue } from "../core/index.ts";
import { UsageError } from "./errors.ts";

const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of `text`, or a UsageError naming `flag`. */
export function durationFlag(flag: string, text: string): number {
  if (text === "0") return 0;
  const m = /^(\d+)([smhd])$/.exec(text);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  if (!Number.isSafeInteger(ms))
    throw new UsageError(flag, `${flag} must be a duration such as 90s, 10m, 12h or 7d (got ${describeValue(text)})`);
  return ms;
}
