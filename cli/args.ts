/**
 * Flag parsing for every subcommand: one table of flags drives both `node:util` parseArgs and the
 * help text, so the two cannot drift. Value parsers throw {@link UsageError} naming the flag and
 * what it accepts; they are the only place a flag's text becomes a typed value.
 */
import { parseArgs } from "node:util";
import { describeValue, formatAllowed } from "../core/index.ts";
import { UsageError } from "./errors.ts";
import { readHeadName, type HeadRef } from "../core/index.ts";

export interface FlagSpec {
  /** long name without dashes, e.g. "model" */
  name: string;
  /** placeholder shown in help (e.g. "DIR"); a flag without one is a boolean switch */
  value?: string;
  required?: boolean;
  /** may be given more than once; its value is then a list */
  multiple?: boolean;
  short?: string;
  help: string;
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface ParseOptions {
  /** names of the positional arguments the command takes, in order (default none) */
  positionals?: readonly string[];
}

/** The standard help switch every command accepts. */
export const HELP_FLAG: FlagSpec = { name: "help", short: "h", help: "show this help" };

/** True when argv asks for help (before any "--"), so help wins over other mistakes on the line. */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/**
 * Parses `argv` strictly: unknown flags, missing values and stray positionals are usage errors.
 * Declared positionals come back under their names.
 */
export function parseFlags(flags: readonly FlagSpec[], argv: readonly string[], o: ParseOptions = {}): FlagValues {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const f of flags)
    options[f.name] = {
      type: f.value ? "string" : "boolean",
      ...(f.short ? { short: f.short } : {}),
      ...(f.multiple ? { multiple: true } : {}),
    };
  let parsed: { values: FlagValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (err) {
    throw new UsageError("", parseArgsMessage(err), err);
  }
  const names = o.positionals ?? [];
  if (parsed.positionals.length > names.length) {
    const extra = parsed.positionals[names.length];
    throw new UsageError(
      "",
      names.length === 0
        ? `unexpected argument ${describeValue(extra)} (every input is a --flag)`
        : `unexpected argument ${describeValue(extra)} after ${names.join(" ")}`,
    );
  }
  if (parsed.positionals.length < names.length)
    throw new UsageError(
      names[parsed.positionals.length]!,
      `missing ${names.slice(parsed.positionals.length).join(" ")}`,
    );
  names.forEach((n, i) => {
    parsed.values[n] = parsed.positionals[i];
  });
  const missing = flags.filter((f) => f.required && parsed.values[f.name] === undefined);
  if (missing.length > 0) {
    throw new UsageError(
      `--${missing[0]!.name}`,
      `missing ${missing.map((f) => `--${f.name} ${f.value ?? ""}`.trim()).join(", ")}`,
    );
  }
  return parsed.values;
}

/** parseArgs' messages carry advice about positionals we do not take; keep the first sentence. */
function parseArgsMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown flag ${unknown[1]}`;
  const missing = /^Option '(-\w, )?(--[\w-]+)[^']*' argument missing/.exec(message);
  if (missing) return `${missing[2]} needs a value`;
  return message.split(". ")[0]!;
}

/** Help lines for a flag table, aligned in two columns. */
export function formatFlags(flags: readonly FlagSpec[]): string {
  const left = flags.map((f) => `${f.short ? `-${f.short}, ` : "    "}--${f.name}${f.value ? ` ${f.value}` : ""}`);
  const width = Math.max(...left.map((s) => s.length)) + 2;
  return flags.map((f, i) => `  ${left[i]!.padEnd(width)}${f.help}${f.required ? " (required)" : ""}`).join("\n");
}

/** Reads a string flag; the table guarantees its type, this keeps call sites typed. */
export function stringFlag(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

export function choice<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(text)) return text as T;
  throw new UsageError(flag, `${flag} must be ${formatAllowed(allowed)} (got ${describeValue(text)})`);
}

/** A decimal integer >= `min`, written without sign or exponent tricks ("1e3", "0x10" are refused). */
export function integerFlag(flag: string, text: string, min: number): number {
  const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      flag,
      `${flag} must be an integer ${min === 1 ? "greater than 0" : `>= ${min}`} (got ${describeValue(text)})`,
    );
  }
  return n;
}

/** A comma-separated list of distinct positive integers, kept in the order given. */
export function integerListFlag(flag: string, text: string): number[] {
  const items = text.split(",").map((s) => s.trim());
  const values = items.map((s) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isSafeInteger(n) || n < 1)
      throw new UsageError(
        flag,
        `${flag} must be a comma-separated list of positive integers, e.g. 10,20,30 (got ${describeValue(text)})`,
      );
    return n;
  });
  const dup = values.find((v, i) => values.indexOf(v) !== i);
  if (dup !== undefined) throw new UsageError(flag, `${flag} lists ${dup} twice (got ${describeValue(text)})`);
  return values;
}

/** A head written `L1H0` or `1.0` (0-based); range-checked later, against the model. */
export function headFlag(flag: string, text: string): HeadRef {
  const head = readHeadName(text);
  if (!head)
    throw new UsageError(flag, `${flag} must be a head written L1H0 (or 1.0), 0-based (got ${describeValue(text)})`);
  return head;
}

/**
 * Runs a core parser on a flag's value and turns its SpecError (code BAD_SPEC) into a usage
 * error, so `--op %` exits 2 with the flag named rather than failing as a runtime error.
 */
export function asUsage<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if ((err as { code?: unknown }).code === "BAD_SPEC") {
      const message = (err as Error).message;
      // Core names the field without dashes ("sample must be ..."); name the flag the user typed.
      const bare = flag.replace(/^--/, "");
      const named = message.startsWith(flag)
        ? message
        : message.startsWith(`${bare} `)
          ? `${flag}${message.slice(bare.length)}`
          : `${flag}: ${message}`;
      throw new UsageError(flag, named, err);
    }
    throw err;
  }
}
