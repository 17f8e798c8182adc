/**
 * The operator's log: one line per event worth knowing (a sweep submitted, a stage planned, a
 * shard quarantined, a worker seen or gone quiet, a failure), at a level, with an ISO timestamp
 * and named fields. Pure: the process that assembles a coordinator or a worker says where lines
 * go (`write`, stderr for the CLI) and what the time is (`now`), so tests capture lines and fix
 * the clock.
 *
 *   text  2026-12-04T08:00:00.000Z INFO sweep submitted sweep=zoo-1a2b3c4d5e cells=20 shards=40
 *   json  {"time":"2026-12-04T08:00:00.000Z","level":"info","msg":"sweep submitted","sweep":"zoo-1a2b3c4d5e",...}
 *
 * Fields whose name says they hold a secret (token, password, secret, credentials, authorization)
 * are written as `[redacted]`, so a caller's slip cannot put one in a log.
 */
import { SpecError, describeValue, formatAllowed } from "./errors.ts";

/** Most severe first: a logger at level L writes L and everything before it. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogValue = string | number | boolean | null | undefined;
/** Named values of a line: sweep, shard, worker, stage, reason, code, ... (undefined ones are left out). */
export type LogFields = Readonly<Record<string, LogValue>>;

/** Its functions use no `this`: they may be passed around (`(ok ? log.info : log.warn)(msg)`). */
export interface Logger {
  readonly error: (msg: string, fields?: LogFields) => void;
  readonly warn: (msg: string, fields?: LogFields) => void;
  readonly info: (msg: string, fields?: LogFields) => void;
  readonly debug: (msg: string, fields?: LogFields) => void;
  /** whether a line at `level` would be written (to skip building costly fields) */
  readonly enabled: (level: LogLevel) => boolean;
  /** a logger that adds `fields` to each of its lines (e.g. `{ worker: id }`) */
  readonly child: (fields: LogFields) => Logger;
}

export interface LoggerOptions {
  /** where each line goes, without its newline (required) */
  write: (line: string) => void;
  /** default "info" */
  level?: LogLevel;
  /** default "text" */
  format?: LogFormat;
  /** default `() => new Date()` */
  now?: () => Date;
}

const SECRET_FIELD = /token|password|secret|credential|authorization/i;
const SEVERITY: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

export function createLogger(o: LoggerOptions): Logger {
  const level = logLevelField("level", o.level ?? "info");
  const format = o.format ?? "text";
  if (!LOG_FORMATS.includes(format))
    throw new SpecError("format", `format must be ${formatAllowed(LOG_FORMATS)}, got ${describeValue(format)}`);
  const now = o.now ?? (() => new Date());
  const make = (base: LogFields): Logger => {
    const line =
      (at: LogLevel) =>
      (msg: string, fields: LogFields = {}) => {
        if (SEVERITY[at] > SEVERITY[level]) return;
        const all = { ...base, ...fields };
        o.write(format === "json" ? jsonLine(now(), at, msg, all) : textLine(now(), at, msg, all));
      };
    return {
      error: line("error"),
      warn: line("warn"),
      info: line("info"),
      debug: line("debug"),
      enabled: (at) => SEVERITY[at] <= SEVERITY[level],
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make({});
}

/** Writes nothing: the default of every component that takes a logger. */
export const silentLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  enabled: () => false,
  child: () => silentLogger,
};

/** A level's name, or a SpecError naming `field`. */
export function logLevelField(field: string, value: unknown): LogLevel {
  if (typeof value === "string" && (LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new SpecError(field, `${field} must be ${formatAllowed(LOG_LEVELS)}, got ${describeValue(value)}`);
}

function shown(name: string, value: LogValue): LogValue {
  return SECRET_FIELD.test(name) && value !== undefined && value !== null ? "[redacted]" : value;
}

function jsonLine(at: Date, level: LogLevel, msg: string, fields: LogFields): string {
  const out: Record<string, LogValue> = { time: at.toISOString(), level, msg };
  for (const [k, v] of Object.entries(fields))
    if (v !== undefined && !(k in out)) out[k] = typeof v === "number" && !Number.isFinite(v) ? String(v) : shown(k, v);
  return JSON.stringify(out);
}

function textLine(at: Date, level: LogLevel, msg: string, fields: LogFields): string {
  const parts = [at.toISOString(), level.toUpperCase(), msg.replace(/[\r\n]+/g, " ")];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const s = String(shown(k, v));
    // quoted only when needed, so the common line stays easy to read and to grep
    parts.push(`${k}=${s === "" || /[\s"=\\]/.test(s) ? JSON.stringify(s) : s}`);
  }
  return parts.join(" ");
}
