/**
 * `cna report`: the HTML report of a sweep (report/), from a coordinator (`cna report ID`, through
 * GetRankings and GetSweep) or offline from files (`--rankings DIR/rankings.json`, with
 * provenance.json beside it when present). `cna run` and `cna demo` write one too
 * ({@link writeReport}).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { Rankings } from "../core/index.ts";
import { createSweepClient } from "../proto/index.ts";
import type {
  GetRankingsRequest,
  GetSweepRequest,
  Rankings as RankingsMessage,
  Sweep,
  SweepServiceClient,
} from "../proto/index.ts";
import { parseProvenance, parseRankingsJson, renderReport, ReportInputError } from "../report/index.ts";
import type { ReportOptions, ReportProvenance } from "../report/index.ts";
import { HELP_FLAG, integerFlag, parseFlags, stringFlag } from "./args.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import type { Command } from "./command.ts";
import { AUTH_FLAGS } from "./connect.ts";
import { callPeer } from "./remote-errors.ts";
import { CONTEXT_FLAG, coordinatorTarget } from "./target.ts";
import { UsageError } from "./errors.ts";
import { STAGE_NAMES, STATE_NAMES } from "./sweep-view.ts";
import { STDOUT, prepareOutput, writeOutput, writeTextAtomic } from "./files.ts";

const REPORT_FLAGS: readonly FlagSpec[] = [
  { name: "out", short: "o", value: "FILE.html", required: true, help: "where to write the report (- for stdout)" },
  {
    name: "rankings",
    value: "FILE",
    help: "render offline from this rankings.json (provenance.json beside it is used if present) instead of a coordinator",
  },
  {
    name: "coordinator",
    value: "HOST:PORT",
    help: "the coordinator's gRPC address (default: $CNA_COORDINATOR, else the context's, else 127.0.0.1:7070)",
  },
  {
    name: "title",
    value: "TEXT",
    help: "the page's title (default: the sweep's name; offline without it in provenance.json, the rankings' directory name)",
  },
  { name: "top", value: "N", help: "neurons listed per cell (default 10)" },
  CONTEXT_FLAG,
  ...AUTH_FLAGS,
  HELP_FLAG,
];

export const reportCommand: Command = {
  name: "report",
  summary: "write a sweep's HTML report (heatmaps, neurons, verification, provenance)",
  synopsis: "report (ID [--coordinator HOST:PORT] | --rankings FILE) -o FILE.html",
  flags: REPORT_FLAGS,
  notes:
    "The report is one self-contained HTML file: it opens offline, with no external resources (one inline script sorts and filters its tables).\nExamples:\n  cna report zoo-quick-3f2a9c1b7e -o report.html --coordinator 127.0.0.1:7070\n  cna report --rankings cna-out/zoo-quick/rankings.json -o report.html",
  run: async (argv, io) => {
    const offline = argv.some((a) => a === "--rankings" || a.startsWith("--rankings="));
    const v = parseReportFlags(argv, offline);
    const out = v.out === STDOUT ? STDOUT : resolve(String(v.out));
    const options: ReportOptions = {
      ...(v.top === undefined ? {} : { topNeurons: integerFlag("--top", String(v.top), 1) }),
    };
    const title = stringFlag(v, "title");
    let html: string;
    if (offline) {
      const file = String(v.rankings);
      const { rankings, provenance } = await readRankingsDir(file);
      // the sweep's name titles the page; a provenance.json without it (or none) falls back to the folder's
      html = renderReport(rankings, provenance, {
        ...options,
        ...(title === undefined && provenance?.name === undefined
          ? { title: `cna-sweep report: ${basename(dirname(resolve(file)))}` }
          : title === undefined
            ? {}
            : { title }),
      });
    } else {
      const id = String(v.ID);
      const fetched = await fetchReportInputs(v, id);
      if (!fetched.final) io.stderr.write(`cna: sweep ${id} has not finished; the report shows partial rankings\n`);
      html = renderReport(fetched.rankings, fetched.provenance, {
        ...options,
        ...(title === undefined ? {} : { title }),
        partial: !fetched.final,
      });
    }
    await prepareOutput(out);
    await writeOutput(out, html, io.stdout);
    if (out !== STDOUT) io.stderr.write(`cna: wrote ${out}\n`);
    return 0;
  },
};

function parseReportFlags(argv: readonly string[], offline: boolean): FlagValues {
  let v: FlagValues;
  try {
    v = parseFlags(REPORT_FLAGS, argv, { positionals: offline ? [] : ["ID"] });
  } catch (err) {
    if (err instanceof UsageError && err.flag === "ID")
      throw new UsageError(
        "ID",
        "missing ID: name a sweep on a coordinator, or render from a file with --rankings FILE",
        err,
      );
    if (err instanceof UsageError && offline && /unexpected argument/.test(err.message))
      throw new UsageError("--rankings", `${err.message}; with --rankings give no sweep ID`, err);
    throw err;
  }
  if (offline && v.coordinator !== undefined)
    throw new UsageError(
      "--coordinator",
      "--coordinator and --rankings exclude each other: render from a coordinator or from a file",
    );
  return v;
}

/** rankings.json and, when present beside it, provenance.json. */
export async function readRankingsDir(file: string): Promise<{ rankings: Rankings; provenance?: ReportProvenance }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ReportInputError(file, "", `cannot read: ${(err as Error).message}`, err);
  }
  const rankings = parseRankingsJson(text, file);
  const provFile = join(dirname(file), "provenance.json");
  if (!existsSync(provFile)) return { rankings };
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(provFile, "utf8"));
  } catch (err) {
    throw new ReportInputError(provFile, "", `cannot read: ${(err as Error).message}`, err);
  }
  return { rankings, provenance: parseProvenance(raw, provFile) };
}

/** What a coordinator knows of a sweep's provenance (its Sweep message), as the report's type. */
export function provenanceOfSweep(s: Sweep): ReportProvenance {
  return {
    ...(s.name === "" ? {} : { name: s.name }),
    sweepId: s.id,
    state: STATE_NAMES[s.state] ?? "unknown",
    cells: { planned: s.cells, done: s.cellsDone, failed: s.cellsFailed },
    mode: "coordinator",
    ...(s.createdAt ? { startedAt: s.createdAt.toISOString() } : {}),
    ...(s.updatedAt ? { finishedAt: s.updatedAt.toISOString() } : {}),
    shards: s.stages.map((p) => ({
      stage: STAGE_NAMES[p.stage] ?? "unspecified",
      total: p.total,
      stored: p.stored,
      quarantined: p.quarantined,
    })),
    redeliveries: s.redeliveries,
    duplicates: s.duplicates,
    nondeterministic: s.nondeterministic,
    quarantined: s.quarantined.map((q) => ({
      shardId: q.shardId,
      cell: q.cell,
      stage: STAGE_NAMES[q.stage] ?? "unspecified",
      reason: q.reason,
    })),
  };
}

/** GetRankings and GetSweep of one sweep; the wire types stop here. */
export async function fetchReportInputs(
  v: FlagValues,
  id: string,
): Promise<{ rankings: Rankings; provenance: ReportProvenance; final: boolean }> {
  const { peer, options } = coordinatorTarget(v);
  const address = peer.address;
  const client: SweepServiceClient = createSweepClient(address, options);
  try {
    const r = await callPeer<GetRankingsRequest, RankingsMessage>(peer, client.getRankings.bind(client), { id });
    const sweep = await callPeer<GetSweepRequest, Sweep>(peer, client.getSweep.bind(client), { id });
    return {
      rankings: parseRankingsJson(r.json, `coordinator ${address} sweep ${id}`),
      provenance: provenanceOfSweep(sweep),
      final: r.final,
    };
  } finally {
    client.close();
  }
}

/** OUT/report.html from the rankings and provenance `cna run` just wrote. */
export async function writeReport(path: string, rankings: Rankings, provenance: ReportProvenance): Promise<void> {
  await writeTextAtomic(path, renderReport(rankings, provenance));
}
