/**
 * `--log-level LEVEL`, `--log-format text|json` and `-v` for the commands that run a coordinator
 * or workers: read once here into the Logger the composition root (app/) is given. Lines go to
 * stderr; stdout stays for what a command prints as its result.
 */
import { LOG_FORMATS, LOG_LEVELS, createLogger } from "../core/index.ts";
import type { LogFormat, LogLevel, Logger } from "../core/index.ts";
import { choice, stringFlag } from "./args.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import { UsageError } from "./errors.ts";

export const LOG_FLAGS: readonly FlagSpec[] = [
  {
    name: "log-level",
    value: "LEVEL",
    help: `log lines at this level and above: ${LOG_LEVELS.join(", ")} (default info)`,
  },
  {
    name: "log-format",
    value: "FORMAT",
    help: "text (default) or json: one object per line with time, level, msg and fields such as sweep, shard, worker",
  },
  { name: "verbose", short: "v", help: "debug lines too (the same as --log-level debug)" },
];

/** Whether the command line asked for log lines in any way (a local run logs only then, or with --nats). */
export function logFlagsGiven(v: FlagValues): boolean {
  return v.verbose === true || v["log-level"] !== undefined || v["log-format"] !== undefined;
}

/** The logger the flags ask for, writing to `stderr`; `now` fixes the clock in tests. */
export function loggerOf(v: FlagValues, stderr: { write(s: string): unknown }, now?: () => Date): Logger {
  const levelText = stringFlag(v, "log-level");
  if (v.verbose === true && levelText !== undefined && levelText !== "debug")
    throw new UsageError("--verbose", `-v means --log-level debug; it contradicts --log-level ${levelText}`);
  const level: LogLevel =
    levelText !== undefined ? choice("--log-level", levelText, LOG_LEVELS) : v.verbose === true ? "debug" : "info";
  const formatText = stringFlag(v, "log-format");
  const format: LogFormat = formatText === undefined ? "text" : choice("--log-format", formatText, LOG_FORMATS);
  return createLogger({ level, format, write: (line) => stderr.write(`${line}\n`), ...(now ? { now } : {}) });
}
