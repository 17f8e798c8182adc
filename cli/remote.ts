/**
 * Talking to a running coordinator: `cna submit`, `cna watch`, `cna rankings`.
 *
 * `submit` resolves the sweep file here (model paths relative to the file, `modelRoot` listed on
 * this machine) and sends the resolved sweep as JSON, so the coordinator needs no access to the
 * submitter's files; workers must see the models at the same absolute paths (a shared volume).
 */
import { basename } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { SweepState, createWorkerClient, fromGrpcError } from "../proto/index.ts";
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
import { createSweepClient } from "../proto/index.ts";
import { HELP_FLAG, integerFlag, parseFlags, stringFlag } from "./args.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import type { Command } from "./command.ts";
import { AUTH_FLAGS, call, clientOptions, hostPort } from "./connect.ts";
import { cautionLines } from "./tables.ts";
import { STAGE_NAMES, sweepLine, WatchDisplay } from "./watch-progress.ts";
import { UsageError } from "./errors.ts";
import {
  exportRankings,
  isRankingsPath,
  RANKINGS_EXPORT_FLAGS,
  RANKINGS_NOTES,
  readRankingsFile,
  resolveRankingsExportOptions,
} from "./rankings-export.ts";

const CLIENT_FLAGS: readonly FlagSpec[] = [
  { name: "coordinator", value: "HOST:PORT", help: "the coordinator's gRPC address (default 127.0.0.1:7070)" },
  ...AUTH_FLAGS,
  HELP_FLAG,
];

function client(v: FlagValues): SweepServiceClient {
  const address = stringFlag(v, "coordinator") ?? "127.0.0.1:7070";
  hostPort("--coordinator", address);
  return createSweepClient(address, clientOptions(v));
}

const SUBMIT_FLAGS: readonly FlagSpec[] = [
  ...CLIENT_FLAGS.slice(0, -1),
  {
    name: "fresh",
    help: "a new sweep even if this file was submitted before and a model's files changed since (otherwise refused)",
  },
  CLIENT_FLAGS.at(-1)!,
];

export const submitCommand: Command = {
  name: "submit",
  summary: "submit a sweep file to a coordinator; prints the sweep id",
  synopsis: "submit SWEEP.yaml [--coordinator HOST:PORT] [--fresh]",
  flags: SUBMIT_FLAGS,
  run: async (argv, io) => {
    const v = parseFlags(SUBMIT_FLAGS, argv, { positionals: ["SWEEP.yaml"] });
    const file = String(v["SWEEP.yaml"]);
    const c = client(v);
    try {
      const sweep = await call<SubmitSweepRequest, Sweep>(c.submitSweep.bind(c), {
        sweepYaml: resolvedSweepJson(readSweepFile(file)),
        sourceName: basename(file),
        fresh: v.fresh === true,
      });
      io.stdout.write(`${sweep.id}\n`);
      io.stderr.write(`${sweepLine(sweep)}\n`);
      return 0;
    } finally {
      c.close();
    }
  },
};

export const watchCommand: Command = {
  name: "watch",
  summary: "follow a sweep's progress until it finishes (exit 0 when it succeeded)",
  synopsis: "watch ID [--coordinator HOST:PORT]",
  flags: CLIENT_FLAGS,
  run: async (argv, io) => {
    const v = parseFlags(CLIENT_FLAGS, argv, { positionals: ["ID"] });
    const c = client(v);
    try {
      const display = new WatchDisplay(io.stderr);
      const ticker = setInterval(() => display.tick(), 1000);
      const last = await new Promise<Sweep | undefined>((resolve, reject) => {
        const stream = c.watchSweep({ id: String(v.ID) });
        stream.on("data", (u: { sweep?: Sweep }) => u.sweep && display.update(u.sweep));
        stream.on("error", (err) => reject(err));
        stream.on("end", () => resolve(display.last));
      })
        .catch((err: ServiceError) => {
          throw fromGrpcError(err);
        })
        .finally(() => {
          clearInterval(ticker);
          display.done();
        });
      for (const q of last?.quarantined ?? [])
        io.stderr.write(`quarantined: ${q.cell} ${STAGE_NAMES[q.stage] ?? ""} shard ${q.shardId}: ${q.reason}\n`);
      if (last && last.state !== SweepState.SWEEP_STATE_CANCELLED) {
        // cells whose top head is no finding, so nobody reads a tie-break as one
        const r = await call<GetRankingsRequest, RankingsMessage>(c.getRankings.bind(c), { id: last.id });
        for (const line of cautionLines(JSON.parse(r.json) as Rankings)) io.stderr.write(`${line}\n`);
      }
      return last?.state === SweepState.SWEEP_STATE_SUCCEEDED ? 0 : 1;
    } finally {
      c.close();
    }
  },
};

const RANKINGS_FLAGS: readonly FlagSpec[] = [...RANKINGS_EXPORT_FLAGS, ...CLIENT_FLAGS];

export const rankingsCommand: Command = {
  name: "rankings",
  summary: "print a sweep's rankings (partial while it runs, final when done) or a rankings.json as tables",
  synopsis:
    "rankings (ID [--coordinator HOST:PORT] | FILE|DIR) [--kind KIND] [--format table|csv|jsonl|json] [--out FILE]",
  flags: RANKINGS_FLAGS,
  notes: RANKINGS_NOTES,
  run: async (argv, io) => {
    const v = parseFlags(RANKINGS_FLAGS, argv, { positionals: ["SOURCE"] });
    const o = resolveRankingsExportOptions(v);
    const source = String(v.SOURCE);
    if (isRankingsPath(source)) {
      if (v.coordinator !== undefined)
        throw new UsageError("--coordinator", "--coordinator and a rankings file exclude each other");
      const file = await readRankingsFile(source);
      await exportRankings(file.rankings, file.text, o, file.path, io);
      return 0;
    }
    const c = client(v);
    try {
      const r = await call<GetRankingsRequest, RankingsMessage>(c.getRankings.bind(c), { id: source });
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
    const address = stringFlag(v, "worker") ?? "127.0.0.1:7071";
    hostPort("--worker", address);
    const timeoutS = v.timeout === undefined ? 900 : integerFlag("--timeout", String(v.timeout), 1);
    const c = createWorkerClient(address, clientOptions(v));
    try {
      const res = await new Promise<DrainResponse>((resolve, reject) => {
        c.drain(
          {},
          new Metadata(),
          { deadline: Date.now() + timeoutS * 1000 },
          (err: ServiceError | null, r: DrainResponse) => (err ? reject(fromGrpcError(err)) : resolve(r)),
        );
      });
      io.stderr.write(`cna drain: worker ${address} drained (state ${res.state})\n`);
      return 0;
    } finally {
      c.close();
    }
  },
};
