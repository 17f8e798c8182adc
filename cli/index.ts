/**
 * cli — the `cna` command. Thin: parses flags, calls core and worker (later the coordinator),
 * maps failures to exit codes. The bin is cli/cna.js; this index is for running it in-process.
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
