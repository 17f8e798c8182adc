/**
 * `npm run bench -- large-model [flags]`: flags → validated {@link LargeModelBenchOptions}. Read
 * once, here; nothing below looks at argv.
 */
import { integerFlag, parseBenchFlags } from "./flags.ts";
import { BenchUsageError } from "./errors.ts";

export interface LargeModelBenchOptions {
  /** A tiny model of the same family and vocabulary instead of Llama-3.2-1B's shape (smoke test). */
  quick: boolean;
  /** Transformer layers of the checkpoint (default the preset's 16; 2 with quick). */
  layers: number;
  /** Cases of the packed head-ablation sweep (every head of each). */
  headCases: number;
  /** Heads ablated one forward at a time, on each of the first min(headCases, 2) cases (single mode). */
  singleHeads: number;
  /** Cases of the CNA run (one batch). */
  cnaCases: number;
  /** Layers CNA runs on (a slice of the model; the whole-model figure is extrapolated by layer count). */
  cnaLayers: number;
  /** Timed repetitions of the attribution figures (median reported). */
  reps: number;
  /** ONNX Runtime intra-op threads (0: its default, one per core). */
  threads: number;
  /** Write (or reuse) the checkpoint here and keep it; null: a temp directory, removed at the end. */
  keepDir: string | null;
  /** Sessions prepack their weights (RunnerOptions.prepackWeights true); false: the engine's default (not above 1 GiB of weights). */
  prepack: boolean;
}

export const LARGE_MODEL_USAGE = `Usage: npm run bench -- large-model [--quick] [--layers N] [--cases N] [--heads N] [--cna-cases N]
                                   [--cna-layers N] [--reps N] [--threads N] [--keep DIR] [--prepack]

The engine on a synthetic Llama-3.2-1B-shaped checkpoint (16 layers, d_model 2048, 32 heads with
8 KV heads, d_mlp 8192, vocabulary 128,256, bf16, two safetensors shards), its random weights
written at bench time: load time (cold and warm float32 cache), peak memory against the float32
weight bytes, head ablation packed vs one forward per (case, head), CNA seconds per case, and the
attribution kernel against a ReduceLogSumExp ceiling. Prints one JSON object on stdout; progress
on stderr. A full run takes 5–10 minutes on 2 cores and ~11 GB of disk in the temp dir.

  --quick         a tiny model (2 layers, d_model 128, d_mlp 512) of the same vocabulary, 1 case
                  per part and 1 repetition (smoke test; the figures are not comparable)
  --layers N      layers of the checkpoint (default 16, with --quick 2)
  --cases N       cases of the packed head-ablation sweep, every head of each (default 2)
  --heads N       heads ablated one forward per (case, head), on up to 2 cases (default 4)
  --cna-cases N   cases of the CNA run, one batch (default 2)
  --cna-layers N  layers CNA is run on; the whole model's time is extrapolated (default 1)
  --reps N        timed repetitions of the attribution figures, median reported (default 3)
  --threads N     ONNX Runtime intra-op threads (default 0: one per core)
  --keep DIR      write the checkpoint to DIR and keep it; a later run with the same shape reuses it
  --prepack       let ONNX Runtime prepack the weights, a packed copy per graph variant (the
                  engine's default only up to 1 GiB of float32 weights)`;

const COUNTS = {
  layers: [1, 64],
  cases: [1, 64],
  heads: [1, 1024],
  "cna-cases": [1, 32],
  "cna-layers": [1, 64],
  reps: [1, 50],
  threads: [0, 256],
} as const;

export function parseLargeModelArgs(argv: readonly string[]): LargeModelBenchOptions & { help: boolean } {
  const values = parseBenchFlags(
    argv,
    {
      quick: { type: "boolean" },
      prepack: { type: "boolean" },
      keep: { type: "string" },
      help: { type: "boolean", short: "h" },
      ...Object.fromEntries(Object.keys(COUNTS).map((k) => [k, { type: "string" as const }])),
    },
    LARGE_MODEL_USAGE,
  );
  const quick = values["quick"] === true;
  const count = (flag: keyof typeof COUNTS, fallback: number): number =>
    integerFlag(values, flag, COUNTS[flag], fallback);
  const layers = count("layers", quick ? 2 : 16);
  const cnaLayers = count("cna-layers", 1);
  if (cnaLayers > layers)
    throw new BenchUsageError(
      "--cna-layers",
      `--cna-layers (${cnaLayers}) cannot exceed the model's layers (${layers})`,
    );
  const keep = values["keep"];
  if (keep === "") throw new BenchUsageError("--keep", "--keep needs a directory");
  return {
    help: values["help"] === true,
    quick,
    layers,
    headCases: count("cases", quick ? 1 : 2),
    singleHeads: count("heads", quick ? 2 : 4),
    cnaCases: count("cna-cases", quick ? 1 : 2),
    cnaLayers,
    reps: count("reps", quick ? 1 : 3),
    threads: count("threads", 0),
    keepDir: typeof keep === "string" ? keep : null,
    prepack: values["prepack"] === true,
  };
}
