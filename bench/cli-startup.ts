/**
 * The cli-startup benchmark: how long `cna --help` and `cna --version` take, end to end as a
 * process, from the compiled build (`node cli/cna.js` with a fresh dist/: what `cna` runs after
 * `npm ci`) and from the sources through tsx (`node --import tsx cli/entry.ts`: what it runs
 * without a build, and `npm run dev:cna`), with plain `node -e ""` as the floor no command can
 * beat. The modes take turns within each round, so a change of load on the machine falls on
 * all of them. One JSON object on stdout; the target is `cna --help` under 300 ms compiled.
 *
 * @example
 * ```sh
 * npm run build && npm run -s bench -- cli-startup --runs 30
 * ```
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isFreshBuild } from "../cli/fresh-build.js";
import { BenchBuildStaleError } from "./errors.ts";
import { integerFlag, parseBenchFlags } from "./flags.ts";
import { log, machineInfo, median, round } from "./timing.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TARGET_HELP_MS = 300;

export const CLI_STARTUP_USAGE = `Usage: npm run bench -- cli-startup [--runs N]

Times \`cna --help\` and \`cna --version\` as processes: compiled (node cli/cna.js, needs a fresh
\`npm run build\`) vs the sources through tsx (node --import tsx cli/entry.ts), and plain node.

  --runs N   timed rounds, after one untimed warm-up round (default 15, 1..1000)
  --help     this help`;

type Mode = "compiled" | "tsx";
const MODES: Readonly<Record<Mode, readonly string[]>> = {
  compiled: [join(ROOT, "cli", "cna.js")],
  tsx: ["--import", "tsx", join(ROOT, "cli", "entry.ts")],
};
const COMMANDS = [["--help"], ["--version"]] as const;

interface Spread {
  medianMs: number;
  p90Ms: number;
  minMs: number;
}

export async function runCliStartupBench(argv: readonly string[]): Promise<number> {
  const values = parseBenchFlags(argv, { runs: { type: "string" }, help: { type: "boolean" } }, CLI_STARTUP_USAGE);
  if (values.help) {
    process.stderr.write(`${CLI_STARTUP_USAGE}\n`);
    return 0;
  }
  const runs = integerFlag(values, "runs", [1, 1000], 15);
  if (!isFreshBuild(ROOT))
    throw new BenchBuildStaleError(
      join(ROOT, "dist"),
      "dist/ is missing or older than the sources, so `cna` would not run it: npm run build",
    );
  const started = performance.now();
  const machine = machineInfo();
  const env = { ...process.env };
  delete env.NODE_OPTIONS;

  const time = (args: readonly string[]): number => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    const ms = performance.now() - t0;
    if (r.status !== 0)
      throw new Error(`node ${args.join(" ")} exited ${r.status ?? r.signal}: ${r.stderr.toString()}`);
    return ms;
  };

  const floor: number[] = [];
  const samples = new Map<string, number[]>();
  for (let round_ = 0; round_ <= runs; round_++) {
    const keep = round_ > 0; // round 0 warms the OS file cache and tsx's compile cache
    const f = time(["-e", ""]);
    if (keep) floor.push(f);
    for (const command of COMMANDS)
      for (const [mode, prefix] of Object.entries(MODES)) {
        const ms = time([...prefix, ...command]);
        const key = `${command.join(" ")}|${mode}`;
        if (keep) samples.set(key, [...(samples.get(key) ?? []), ms]);
      }
    if (keep && round_ % 5 === 0) log(`cli-startup: ${round_}/${runs} rounds`);
  }

  const commands: Record<string, Record<Mode, Spread>> = {};
  for (const [key, ms] of samples) {
    const [command, mode] = key.split("|") as [string, Mode];
    (commands[command] ??= {} as Record<Mode, Spread>)[mode] = spread(ms);
  }
  const help = commands["--help"]!.compiled.medianMs;
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: "cli-startup",
        machine,
        options: { runs },
        nodeFloor: spread(floor),
        commands,
        // what the command adds to starting node at all: steadier than the times under a varying load
        overNodeMs: Object.fromEntries(
          Object.entries(commands).map(([c, m]) => [
            c,
            {
              compiled: round(m.compiled.medianMs - median(floor), 3),
              tsx: round(m.tsx.medianMs - median(floor), 3),
            },
          ]),
        ),
        speedup: Object.fromEntries(
          Object.entries(commands).map(([c, m]) => [c, round(m.tsx.medianMs / m.compiled.medianMs, 3)]),
        ),
        targetMet: { helpUnder300Ms: help < TARGET_HELP_MS },
        totalSeconds: round((performance.now() - started) / 1000, 3),
      },
      null,
      2,
    )}\n`,
  );
  return 0;
}

function spread(ms: readonly number[]): Spread {
  const sorted = [...ms].sort((a, b) => a - b);
  // nearest rank: the smallest sample with at least 90% of the samples at or below it
  const p90 = sorted[Math.max(0, Math.ceil(0.9 * sorted.length) - 1)]!;
  return { medianMs: round(median(ms), 3), p90Ms: round(p90, 3), minMs: round(sorted[0]!, 3) };
}
