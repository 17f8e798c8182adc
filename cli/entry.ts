/**
 * The program behind the `cna` bin (cli/cna.js runs the compiled dist/cli/entry.js, or this file
 * through tsx). `cna --help` and `cna --version` are answered without loading the commands, which
 * bring ONNX Runtime, gRPC and NATS with them (half a second before a first line could be
 * printed): the general help from help.txt, which the build renders beside the compiled main.js
 * with generalHelp() (main.ts), and the version from app/version.ts alone. Everything else, and the
 * help of a run from the sources (no help.txt), goes to main().
 */
import { readFileSync } from "node:fs";
import { EXIT_OK, EXIT_USAGE } from "./command.ts";

const argv = process.argv.slice(2);
process.exitCode = (await quickAnswer(argv)) ?? (await (await import("./main.ts")).main(argv));

/** The exit code when the answer needs no command; undefined to leave it to main(). */
async function quickAnswer(args: readonly string[]): Promise<number | undefined> {
  const [first, ...rest] = args;
  if (rest.length > 0) return undefined;
  if (first === "--version" || first === "-V") {
    // Deliberately not through app/index.ts, which loads every composition root and their dependencies.
    const [{ buildInfo }, { versionLine }] = await Promise.all([import("../app/version.ts"), import("./version.ts")]);
    process.stdout.write(`${versionLine(buildInfo())}\n`);
    return EXIT_OK;
  }
  const asked = first === "--help" || first === "-h" || first === "help";
  if (!asked && first !== undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(new URL("help.txt", import.meta.url), "utf8");
  } catch {
    return undefined;
  }
  // as main() answers: help asked for goes to stdout and succeeds; `cna` alone is a usage error
  (asked ? process.stdout : process.stderr).write(text);
  return asked ? EXIT_OK : EXIT_USAGE;
}
