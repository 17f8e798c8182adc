/**
 * The `cna` command: dispatch to a subcommand, help, and the mapping of failures to exit codes.
 *
 *   0  success
 *   1  runtime failure: `cna: CODE: message` for a CnaError (no stack: the message says what to
 *      fix), the stack for anything else (a bug, which the stack helps to find)
 *   2  usage error: a bad flag or value, named with what it accepts
 */
import { formatFlags, wantsHelp } from "./args.ts";
import { analyzeCommand } from "./analyze.ts";
import { demoCommand, runCommand } from "./run.ts";
import { drainCommand, rankingsCommand, submitCommand, watchCommand } from "./remote.ts";
import { reportCommand } from "./report.ts";
import { cancelCommand, listCommand, rerunCommand } from "./sweeps.ts";
import { contextCommand } from "./context.ts";
import { coordinatorCommand, workerCommand } from "./serve.ts";
import { completionCommand } from "./completion.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo, type Command } from "./command.ts";
import { gcCommand } from "./gc.ts";
import { UsageError } from "./errors.ts";
import { buildInfo } from "../app/index.ts";
import { versionLine } from "./version.ts";

/** Subcommands, in help order. A new one (demo, run, submit, ...) is one entry here. */
export const COMMANDS: readonly Command[] = [
  demoCommand,
  runCommand,
  analyzeCommand,
  coordinatorCommand,
  workerCommand,
  submitCommand,
  watchCommand,
  rankingsCommand,
  reportCommand,
  drainCommand,
  listCommand,
  cancelCommand,
  rerunCommand,
  contextCommand,
  completionCommand(() => COMMANDS),
  gcCommand,
];

export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE };

export function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    "cna — head-ablation and Comparative Neuron Analysis sweeps",
    "",
    "Usage: cna COMMAND [flags]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    `  ${"help".padEnd(width)}show help for a command`,
    "",
    'Run "cna help COMMAND" or "cna COMMAND --help" for its flags; "cna --version" for the version.',
  ].join("\n");
}

export function commandHelp(c: Command): string {
  return [
    `Usage: cna ${c.synopsis}`,
    "",
    c.summary,
    "",
    "Flags:",
    formatFlags(c.flags),
    ...(c.notes ? ["", c.notes] : []),
  ].join("\n");
}

function findCommand(name: string): Command {
  const c = COMMANDS.find((x) => x.name === name);
  if (!c)
    throw new UsageError("", `unknown command "${name}" (commands: ${COMMANDS.map((x) => x.name).join(", ")}, help)`);
  return c;
}

const defaultIo: CliIo = { stdout: process.stdout, stderr: process.stderr };

/** Runs `cna` with argv (without node and script) and returns the exit code; never throws. */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  const [name, ...rest] = argv;
  let command: Command | undefined;
  try {
    if (name === undefined) {
      io.stderr.write(`${generalHelp()}\n`);
      return EXIT_USAGE;
    }
    if (name === "--help" || name === "-h") return help(io, generalHelp());
    if (name === "--version" || name === "-V") {
      return help(io, versionLine(buildInfo()));
    }
    if (name === "help") return help(io, rest[0] === undefined ? generalHelp() : commandHelp(findCommand(rest[0])));
    command = findCommand(name);
    if (wantsHelp(rest)) return help(io, commandHelp(command));
    return await command.run(rest, io);
  } catch (err) {
    return report(err, io, command);
  }
}

function help(io: CliIo, text: string): number {
  io.stdout.write(`${text}\n`);
  return EXIT_OK;
}

/** Decides by `code` (docs/architecture.md convention 3: errors are classed by code, not by class). */
function report(err: unknown, io: CliIo, command: Command | undefined): number {
  const { code, message } = (typeof err === "object" && err !== null ? err : {}) as {
    code?: unknown;
    message?: unknown;
  };
  if (err instanceof Error && code === "USAGE") {
    const hint = command ? `cna ${command.name} --help` : "cna --help";
    io.stderr.write(`cna: ${err.message}\nRun "${hint}" for usage.\n`);
    return EXIT_USAGE;
  }
  if (
    err instanceof Error &&
    typeof code === "string" &&
    typeof (err as { retryable?: unknown }).retryable === "boolean"
  ) {
    io.stderr.write(`cna: ${code}: ${String(message)}\n`);
    return EXIT_FAILURE;
  }
  io.stderr.write(
    `cna: unexpected error (a bug; please report it with this trace):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return EXIT_FAILURE;
}
