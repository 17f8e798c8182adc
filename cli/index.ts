/**
 * cli — the `cna` command: every subcommand (demo, run, analyze, coordinator, worker, submit,
 * watch, rankings, report, drain, completion) parses its flags and environment here (cli/options.ts), calls
 * app/'s composition roots (or a coordinator's gRPC API), prints progress and tables, and maps
 * failures to exit codes (0, 1 runtime, 2 usage). The bin is cli/cna.js; this index exports
 * `main` and the analyze entry point for running in-process. Library users import the package
 * ("cna-sweep", app/index.ts) instead.
 *
 * @example
 * ```ts
 * import { main } from "../cli/index.ts";
 *
 * const code = await main(["analyze", "--model", "models/arith-2l-d64", "--op", "+", "--digits", "1",
 *   "--analysis", "head-ablation", "--out", "out/rankings.json"]); // 0, 1 (runtime) or 2 (usage)
 * ```
 */
export { COMMANDS, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, commandHelp, generalHelp, main } from "./main.ts";
export { analyze, analyzeCommand } from "./analyze.ts";
export { ANALYZE_FLAGS, resolveAnalyzeOptions } from "./analyze-options.ts";
export type { AnalyzeOptions } from "./analyze-options.ts";
export type { CliIo, Command } from "./command.ts";
export { OutputWriteError, UsageError } from "./errors.ts";
export { ProgressDisplay, progressLine } from "./progress.ts";
export type { ProgressOptions, ProgressSink } from "./progress.ts";
