/**
 * `cna gc --data DIR [--older-than 7d] [--dry-run]`: removes the sweeps of a coordinator's data
 * directory (or of a `cna run`'s OUT/state) that finished or were cancelled longer ago than
 * --older-than, each with its journal, result blobs and rankings.json. Running sweeps are kept.
 * Meant for a directory no coordinator is serving: a running coordinator keeps finished sweeps
 * in memory and would answer for a removed one until restarted; it cleans up after itself with
 * --retention instead.
 */
import { resolve } from "node:path";
import { collectSweeps } from "../app/index.ts";
import { HELP_FLAG, parseFlags } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { durationFlag } from "./duration.ts";

export const DEFAULT_GC_OLDER_THAN = "7d";

const GC_FLAGS: readonly FlagSpec[] = [
  {
    name: "data",
    value: "DIR",
    required: true,
    help: "the data directory (a coordinator's --data, or OUT/state of cna run)",
  },
  {
    name: "older-than",
    value: "DURATION",
    help: `remove sweeps that ended at least this long ago, e.g. 12h, 7d, 0 for all (default ${DEFAULT_GC_OLDER_THAN})`,
  },
  { name: "dry-run", help: "list what would be removed; remove nothing" },
  HELP_FLAG,
];

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export const gcCommand: Command = {
  name: "gc",
  summary: "remove sweeps that finished or were cancelled long ago from a data directory (never running ones)",
  synopsis: "gc --data DIR [--older-than 7d] [--dry-run]",
  flags: GC_FLAGS,
  notes:
    "Run it on a directory no coordinator is serving (a running coordinator removes its own with --retention).\nA sweep is first moved to DIR/gc-trash, then deleted; a collection interrupted there is finished by the next one.",
  run: async (argv, io) => {
    const v = parseFlags(GC_FLAGS, argv);
    const olderThanMs = durationFlag(
      "--older-than",
      typeof v["older-than"] === "string" ? v["older-than"] : DEFAULT_GC_OLDER_THAN,
    );
    const dryRun = v["dry-run"] === true;
    const r = collectSweeps({ dataDir: resolve(String(v.data)), olderThanMs, dryRun });
    const verb = dryRun ? "would remove" : "removed";
    for (const s of r.removed)
      io.stdout.write(`${verb} ${s.sweepId} (${s.state}, ended ${s.endedAt}, ${mb(s.bytes)})\n`);
    if (r.leftovers > 0)
      io.stderr.write(`cna gc: finished removing ${r.leftovers} sweep(s) an earlier gc left in gc-trash\n`);
    for (const k of r.kept.filter((k) => k.why.startsWith("unreadable")))
      io.stderr.write(`cna gc: kept ${k.sweepId}: ${k.why}\n`);
    const freed = r.removed.reduce((n, s) => n + s.bytes, 0);
    io.stderr.write(`cna gc: ${verb} ${r.removed.length} sweep(s), ${mb(freed)}; kept ${r.kept.length}\n`);
    return 0;
  },
};
