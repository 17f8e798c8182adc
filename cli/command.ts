/**
 * What a subcommand is to the dispatcher in main.ts: adding one (`demo`, `run`, `submit`, ...)
 * is one object and one entry in its table; help, usage errors and exit codes come for free.
 */
import type { FlagSpec } from "./args.ts";

/** Exit codes (main.ts says when each is used). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The process streams a command writes to; tests may pass fakes. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  /** `columns`: the terminal's width when stderr is one, for progress lines that must not wrap */
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
}

export interface Command {
  name: string;
  /** one line for `cna --help` */
  summary: string;
  /** the synopsis, without the leading "cna " */
  synopsis: string;
  flags: readonly FlagSpec[];
  /** paragraphs shown after the flags in `cna help NAME` */
  notes?: string;
  /** Runs with the command's own arguments; resolves to the exit code. Throws on failure. */
  run(argv: readonly string[], io: CliIo): Promise<number>;
}
