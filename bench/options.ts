/**
 * `npm run bench -- engine [flags]`: flags → validated {@link EngineBenchOptions}. Read once,
 * here; nothing below looks at argv.
 */
import { integerFlag, parseBenchFlags } from "./flags.ts";
import { BenchUsageError } from "./errors.ts";

export const ENGINE_SECTIONS = ["zoo", "gpt2"] as const;
export type EngineSection = (typeof ENGINE_SECTIONS)[number];

export interface EngineBenchOptions {
  /** Smaller subsets everywhere (a smoke test; the figures are not comparable to a full run). */
  quick: boolean;
  sections: EngineSection[];
  /** Timed repetitions per figure (the median is reported). */
  reps: number;
  /** The zoo checkpoint directory. */
  zooDir: string;
  /** ONNX Runtime intra-op threads (0: its default, one per core), as the engine's SessionOptions. */
  threads: number;
}

export const ENGINE_USAGE = `Usage: npm run bench -- engine [--quick] [--only zoo|gpt2] [--reps N] [--zoo DIR] [--threads N]

Engine throughput on a zoo checkpoint and on a synthetic GPT-2-small-shaped model: head ablation
(single / per-head / packed), neuron attribution (naive / u-matrix) and the logsumexp kernel.
Prints one JSON object on stdout; progress on stderr.

  --quick       small subsets and 1 repetition unless --reps (smoke test)
  --only NAME   run one section: zoo or gpt2 (default: both)
  --reps N      timed repetitions per figure, median reported (default 3)
  --zoo DIR     zoo checkpoint (default models/arith-4l-d128)
  --threads N   ONNX Runtime intra-op threads (default 0: one per core)`;

export function parseEngineBenchArgs(argv: readonly string[]): EngineBenchOptions & { help: boolean } {
  const values = parseBenchFlags(
    argv,
    {
      quick: { type: "boolean" },
      only: { type: "string" },
      reps: { type: "string" },
      zoo: { type: "string" },
      threads: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    ENGINE_USAGE,
  );
  const only = values["only"];
  if (only !== undefined && !(ENGINE_SECTIONS as readonly unknown[]).includes(only)) {
    throw new BenchUsageError(
      "--only",
      `--only must be one of ${ENGINE_SECTIONS.join(", ")} (got ${JSON.stringify(only)})`,
    );
  }
  const quick = values["quick"] === true;
  const reps = integerFlag(values, "reps", [1, 50], quick ? 1 : 3);
  const threads = integerFlag(values, "threads", [0, 256], 0);
  const zoo = values["zoo"];
  return {
    help: values["help"] === true,
    quick,
    sections: only === undefined ? [...ENGINE_SECTIONS] : [only as EngineSection],
    reps,
    zooDir: typeof zoo === "string" ? zoo : "models/arith-4l-d128",
    threads,
  };
}
