/**
 * Talking to a running coordinator: `cna submit`, `cna watch`, `cna rankings` (and to a worker:
 * `cna drain`). Where to connect comes from flags, environment and context (cli/target.ts);
 * failed calls read as cli/remote-errors.ts says.
 *
 * `submit` resolves the sweep file here (model paths relative to the file, `modelRoot` listed on
 * this machine) and sends the resolved sweep as JSON, so the coordinator needs no access to the
 * submitter's files; workers must see the models at the same absolute paths (a shared volume).
 */
import { basename } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { SweepState, createWorkerClient } from "../proto/index.ts";
import type {
  DrainResponse,
  GetRankingsRequest,
  Rankings as RankingsMessage,
  SubmitSweepRequest,
  Sweep,
  SweepServiceClient,
} from "../proto/index.ts";
import type { Rankings } from "../core/index.ts";
import { readSweepFile, resolvedSweepJson } from "../app/index.ts";
import { quarantinedCount } from "../coordinator/index.ts";
import { createSweepClient } from "../proto/index.ts";
import { HELP_FLAG, integerFlag, parseFlags } from "./args.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import type { Command } from "./command.ts";
import { AUTH_FLAGS } from "./connect.ts";
import { UsageError } from "./errors.ts";
import { callPeer, readableRemoteError } from "./remote-errors.ts";
import { STAGE_NAMES, sweepJson, sweepLine } from "./sweep-view.ts";
import { CONTEXT_FLAG, coordinatorTarget, workerTarget } from "./target.ts";
import type { Peer } from "./target.ts";
import { cautionLines } from "./tables.ts";
import { WatchDisplay } from "./watch-progress.ts";
import {
  exportRankings,
  isRankingsPath,
  RANKINGS_EXPORT_FLAGS,
  RANKINGS_NOTES,
  readRankingsFile,
  resolveRankingsExportOptions,
} from "./rankings-export.ts";

export const CLIENT_FLAGS: readonly FlagSpec[] = [
  {
    name: "coordinator",
    value: "HOST:PORT",
    help: "the coordinator's gRPC address (default: $CNA_COORDINATOR, else the context's, else 127.0.0.1:7070)",
  },
  CONTEXT_FLAG,
  ...AUTH_FLAGS,
  HELP_FLAG,
];

export const JSON_FLAG: FlagSpec = { name: "json", help: "print JSON (machine-readable) instead of text" };

/** A SweepService client for the coordinator the flags, environment and context name. */
export function connect(v: FlagValues): { c: SweepServiceClient; peer: Peer } {
  const { peer, options } = coordinatorTarget(v);
  return { c: createSweepClient(peer.address, options), peer };
}

/** Flags of a client command: `extra` before the connection flags, help last. */
export function clientFlags(...extra: FlagSpec[]): readonly FlagSpec[] {
  return [...extra, ...CLIENT_FLAGS];
}

const SUBMIT_FLAGS = clientFlags(
  {
    name: "fresh",
    help: "a new sweep even if this file was submitted before and a model's files changed since (otherwise refused)",
  },
  JSON_FLAG,
);

export const submitCommand: Command = {
  name: "submit",
  summary: "submit a sweep file to a coordinator; prints the sweep id",
  synopsis: "submit SWEEP.yaml [--coordinator HOST:PORT] [--context NAME] [--fresh] [--json]",
  flags: SUBMIT_FLAGS,
  notes:
    "A sweep's id is its name and a hash of the file and the models' contents, e.g. zoo-quick-3f2a9c1b7e.\nSubmitting the identical file again returns the existing sweep (and says so); nothing is planned twice.\nExample:\n  cna submit examples/zoo-quick.yaml --coordinator 127.0.0.1:7070",
  run: async (argv, io) => {
    const v = parseFlags(SUBMIT_FLAGS, argv, { positionals: ["SWEEP.yaml"] });
    const file = String(v["SWEEP.yaml"]);
    const sweepYaml = resolvedSweepJson(readSweepFile(file));
    const { c, peer } = connect(v);
    try {
      const sweep = await callPeer<SubmitSweepRequest, Sweep>(peer, c.submitSweep.bind(c), {
        sweepYaml,
        sourceName: basename(file),
        fresh: v.fresh === true,
      });
      if (sweep.existing) io.stderr.write(`sweep ${sweep.id} already exists (identical file); returning it\n`);
      if (v.json === true) io.stdout.write(`${JSON.stringify(sweepJson(sweep))}\n`);
      else {
        io.stdout.write(`${sweep.id}\n`);
        io.stderr.write(`${sweepLine(sweep)}\n`);
      }
      return 0;
    } finally {
      c.close();
    }
  },
};

const WATCH_FLAGS = clientFlags({
  name: "json",
  help: "print each update as one JSON object per line on stdout (see cna list --json for its fields)",
});

export const watchCommand: Command = {
  name: "watch",
  summary: "follow a sweep's progress until it finishes (exit 0 when it succeeded)",
  synopsis: "watch ID [--coordinator HOST:PORT] [--context NAME] [--json]",
  flags: WATCH_FLAGS,
  notes: "Example:\n  cna watch zoo-quick-3f2a9c1b7e --json | jq -r .state",
  run: async (argv, io) => {
    const v = parseFlags(WATCH_FLAGS, argv, { positionals: ["ID"] });
    const json = v.json === true;
    const { c, peer } = connect(v);
    try {
      const display = new WatchDisplay(io.stderr);
      const ticker = setInterval(() => display.tick(), 1000);
      let latest: Sweep | undefined;
      const last = await new Promise<Sweep | undefined>((resolve, reject) => {
        const stream = c.watchSweep({ id: String(v.ID) });
        stream.on("data", (u: { sweep?: Sweep }) => {
          if (!u.sweep) return;
          if (json) {
            latest = u.sweep;
            io.stdout.write(`${JSON.stringify(sweepJson(u.sweep))}\n`);
          } else display.update(u.sweep);
        });
        stream.on("error", (err) => reject(err));
        stream.on("end", () => resolve(json ? latest : display.last));
      })
        .catch((err: ServiceError) => {
          throw readableRemoteError(err, peer);
        })
        .finally(() => {
          clearInterval(ticker);
          display.done();
        });
      for (const q of last?.quarantined ?? [])
        io.stderr.write(`quarantined: ${q.cell} ${STAGE_NAMES[q.stage] ?? ""} shard ${q.shardId}: ${q.reason}\n`);
      const unlisted = last ? quarantinedCount(last) - last.quarantined.length : 0;
      if (unlisted > 0)
        io.stderr.write(`and ${unlisted} more quarantined shards (the coordinator's journal names each)\n`);
      if (last && last.state !== SweepState.SWEEP_STATE_CANCELLED) {
        // cells whose top head is no finding, so nobody reads a tie-break as one
        const r = await callPeer<GetRankingsRequest, RankingsMessage>(peer, c.getRankings.bind(c), { id: last.id });
        for (const line of cautionLines(JSON.parse(r.json) as Rankings)) io.stderr.write(`${line}\n`);
      }
      if (last && last.quarantined.length > 0 && last.state === SweepState.SWEEP_STATE_FAILED)
        io.stderr.write(`once the cause is fixed: cna rerun ${last.id} --failed\n`);
      return last?.state === SweepState.SWEEP_STATE_SUCCEEDED ? 0 : 1;
    } finally {
      c.close();
    }
  },
};

const RANKINGS_FLAGS = clientFlags(...RANKINGS_EXPORT_FLAGS, { name: "json", help: "the same as --format json" });

export const rankingsCommand: Command = {
  name: "rankings",
  summary: "print a sweep's rankings (partial while it runs, final when done) or a rankings.json as tables",
  synopsis:
    "rankings (ID [--coordinator HOST:PORT] [--context NAME] | FILE|DIR) [--kind KIND] [--format table|csv|jsonl|json | --json] [--out FILE]",
  flags: RANKINGS_FLAGS,
  notes: `${RANKINGS_NOTES}\nExample:\n  cna rankings zoo-quick-3f2a9c1b7e --json > rankings.json`,
  run: async (argv, io) => {
    const v = parseFlags(RANKINGS_FLAGS, argv, { positionals: ["SOURCE"] });
    if (v.json === true) {
      if (v.format !== undefined && v.format !== "json")
        throw new UsageError("--json", `--json and --format ${String(v.format)} exclude each other`);
      v.format = "json";
    }
    const o = resolveRankingsExportOptions(v);
    const source = String(v.SOURCE);
    if (isRankingsPath(source)) {
      if (v.coordinator !== undefined)
        throw new UsageError("--coordinator", "--coordinator and a rankings file exclude each other");
      const file = await readRankingsFile(source);
      await exportRankings(file.rankings, file.text, o, file.path, io);
      return 0;
    }
    const { c, peer } = connect(v);
    try {
      const r = await callPeer<GetRankingsRequest, RankingsMessage>(peer, c.getRankings.bind(c), { id: source });
      await exportRankings(JSON.parse(r.json) as Rankings, r.json, o, `sweep ${source}`, io);
      if (!r.final) io.stderr.write("cna: the sweep has not finished; these rankings are partial\n");
      return 0;
    } finally {
      c.close();
    }
  },
};

const DRAIN_FLAGS: readonly FlagSpec[] = [
  { name: "worker", value: "HOST:PORT", help: "the worker's WorkerService address (default 127.0.0.1:7071)" },
  { name: "timeout", value: "SECONDS", help: "give up waiting after this long (default 900)" },
  CONTEXT_FLAG,
  ...AUTH_FLAGS,
  HELP_FLAG,
];

/**
 * `cna drain`: asks a worker to stop pulling and finish what it holds; returns when it has.
 * Kubernetes runs it as the worker's preStop hook, so a scale-down never cuts a shard short.
 */
export const drainCommand: Command = {
  name: "drain",
  summary: "ask a worker to finish its shards and stop pulling (its preStop hook)",
  synopsis: "drain [--worker HOST:PORT] [--timeout SECONDS]",
  flags: DRAIN_FLAGS,
  run: async (argv, io) => {
    const v = parseFlags(DRAIN_FLAGS, argv);
    const { peer, options } = workerTarget(v);
    const address = peer.address;
    const timeoutS = v.timeout === undefined ? 900 : integerFlag("--timeout", String(v.timeout), 1);
    const c = createWorkerClient(address, options);
    try {
      const res = await new Promise<DrainResponse>((resolve, reject) => {
        c.drain(
          {},
          new Metadata(),
          { deadline: Date.now() + timeoutS * 1000 },
          (err: ServiceError | null, r: DrainResponse) => (err ? reject(readableRemoteError(err, peer)) : resolve(r)),
        );
      });
      io.stderr.write(`cna drain: worker ${address} drained (state ${res.state})\n`);
      return 0;
    } finally {
      c.close();
    }
  },
};
