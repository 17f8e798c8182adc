/** Flags of `npm run bench -- soak`, parsed and validated once. */
import { DEFAULT_COMPACT_JOURNAL_BYTES } from "../coordinator/index.ts";
import { integerFlag, parseBenchFlags } from "./flags.ts";

export interface SoakBenchOptions {
  /** shards in the sweep (default 100 000) */
  shards: number;
  /** no-op worker loops, in one child process (default 4) */
  workers: number;
  /** the coordinator's journal compaction threshold (default the coordinator's, 16 MiB) */
  compactJournalBytes: number;
  help: boolean;
}

export const SOAK_USAGE = `Usage: npm run bench -- soak [--shards N] [--workers N] [--compact-bytes N]

  --shards N         shards in the sweep, one operand pair each (default 100000; 100 to 1000000);
                     figures are taken at 10 %, 50 % and 100 % of them stored
  --workers N        no-op workers: real ShardWorkers over JetStream and gRPC (default 4)
  --compact-bytes N  the coordinator's journal compaction threshold (default ${DEFAULT_COMPACT_JOURNAL_BYTES})`;

export function parseSoakArgs(argv: readonly string[]): SoakBenchOptions {
  const v = parseBenchFlags(
    argv,
    {
      shards: { type: "string" },
      workers: { type: "string" },
      "compact-bytes": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    SOAK_USAGE,
  );
  return {
    shards: integerFlag(v, "shards", [100, 1_000_000], 100_000),
    workers: integerFlag(v, "workers", [1, 64], 4),
    compactJournalBytes: integerFlag(v, "compact-bytes", [1024, 2 ** 40], DEFAULT_COMPACT_JOURNAL_BYTES),
    help: v.help === true,
  };
}
