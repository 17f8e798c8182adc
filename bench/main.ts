/**
 * `npm run bench -- NAME [flags]`: runs one benchmark. Each prints one JSON object on stdout
 * (progress on stderr). Exit codes: 0 done, 1 a benchmark part failed (the JSON says which),
 * 2 usage error.
 *
 * Benchmarks are not tests: they measure, they do not assert. A new one (orchestration, ...) is
 * one entry in BENCHMARKS.
 */
import { errorInfo } from "../core/index.ts";
import { runCliStartupBench } from "./cli-startup.ts";
import { runEngineBench } from "./engine.ts";
import { runLargeModelBench } from "./large-model.ts";
import { runOrchestrationBench } from "./orchestration.ts";
import { runSoakBench } from "./soak.ts";

interface Benchmark {
  summary: string;
  run(argv: readonly string[]): Promise<number>;
}

const BENCHMARKS: Readonly<Record<string, Benchmark>> = {
  "cli-startup": {
    summary: "cna --help and --version as processes: compiled build vs the sources through tsx",
    run: runCliStartupBench,
  },
  engine: {
    summary: "head ablation, attribution and kernel throughput (zoo + synthetic GPT-2 small)",
    run: runEngineBench,
  },
  "large-model": {
    summary:
      "load, memory, head ablation, CNA and the attribution kernel on a synthetic Llama-3.2-1B-shaped checkpoint",
    run: runLargeModelBench,
  },
  orchestration: {
    summary: "embedded vs distributed sweep wall time; control-plane shards/s with a no-op stage",
    run: runOrchestrationBench,
  },
  soak: {
    summary:
      "100 000 no-op shards through JetStream + gRPC: coordinator RSS, data dir size, shards/s over time, restart time, view size",
    run: runSoakBench,
  },
};

function usage(): string {
  const names = Object.entries(BENCHMARKS).map(([name, b]) => `  ${name.padEnd(14)}${b.summary}`);
  return ["Usage: npm run bench -- NAME [flags]   (NAME --help for its flags)", "", "Benchmarks:", ...names].join("\n");
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stderr.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const bench = BENCHMARKS[name];
  if (!bench) {
    process.stderr.write(`bench: unknown benchmark "${name}"\n\n${usage()}\n`);
    return 2;
  }
  try {
    return await bench.run(rest);
  } catch (err) {
    const info = errorInfo(err);
    if (info.code === "INTERNAL") throw err; // a bug: let Node print the stack
    process.stderr.write(`bench ${name}: ${info.code}: ${info.message}\n`);
    return info.code === "BAD_BENCH_ARGS" ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
