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
import { choice, HELP_FLAG, integerFlag, parseFlags, stringFlag } from "./args.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import type { Command } from "./command.ts";
import { AUTH_FLAGS, call, clientOptions, hostPort } from "./connect.ts";
import { cautionLines, formatRankings, rankingsCsv } from "./tables.ts";

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

const STATE_NAMES: Record<number, string> = {
  [SweepState.SWEEP_STATE_RUNNING]: "running",
  [SweepState.SWEEP_STATE_SUCCEEDED]: "succeeded",
  [SweepState.SWEEP_STATE_FAILED]: "failed",
  [SweepState.SWEEP_STATE_CANCELLED]: "cancelled",
};
const STAGE_NAMES = ["?", "head-ablation", "attribution", "cna", "verify", "top-tokens"];

export function sweepLine(s: Sweep): string {
  const stages = s.stages
    .map(
      (p) =>
        `${STAGE_NAMES[p.stage] ?? "?"} ${p.stored}/${p.expected || p.total}${p.quarantined ? ` (${p.quarantined} quarantined)` : ""}`,
    )
    .join(" · ");
  const eta = s.etaSeconds === undefined ? "" : ` · ETA ${Math.round(s.etaSeconds)} s`;
  const extra = [
    s.redeliveries ? `${s.redeliveries} redeliveries` : "",
    s.duplicates ? `${s.duplicates} duplicates` : "",
    s.nondeterministic ? `${s.nondeterministic} NON-DETERMINISTIC` : "",
  ]
    .filter(Boolean)
    .join(" · ");
  return `${s.id} [${STATE_NAMES[s.state] ?? "?"}] cells ${s.cellsDone}/${s.cells} · ${stages} · ${s.casesPerSecond.toFixed(1)} cases/s${eta}${extra ? ` · ${extra}` : ""}`;
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
      const last = await new Promise<Sweep | undefined>((resolve, reject) => {
        let latest: Sweep | undefined;
        const stream = c.watchSweep({ id: String(v.ID) });
        // On a TTY one line is redrawn; in logs, a line per state or stage change, else every 5 s.
        let lastKey = "";
        let lastAt = 0;
        stream.on("data", (u: { sweep?: Sweep }) => {
          if (!u.sweep) return;
          latest = u.sweep;
          const line = sweepLine(u.sweep);
          if (io.stderr.isTTY) return void io.stderr.write(`\r${line}\x1b[K`);
          const key = `${u.sweep.state}|${u.sweep.stages.map((p) => p.stored === p.total).join()}|${u.sweep.stages.reduce((n, p) => n + p.quarantined, 0)}`;
          if (key === lastKey && Date.now() - lastAt < 5000) return;
          lastKey = key;
          lastAt = Date.now();
          io.stderr.write(`${line}\n`);
        });
        stream.on("error", (err) => reject(err));
        stream.on("end", () => {
          if (io.stderr.isTTY && latest) io.stderr.write("\n");
          resolve(latest);
        });
      }).catch((err: ServiceError) => {
        throw fromGrpcError(err);
      });
      for (const q of last?.quarantined ?? [])
        io.stderr.write(`quarantined: ${q.cell} ${STAGE_NAMES[q.stage] ?? ""} shard ${q.shardId}: ${q.reason}\n`);
      const unlisted = (last?.stages.reduce((n, p) => n + p.quarantined, 0) ?? 0) - (last?.quarantined.length ?? 0);
      if (unlisted > 0)
        io.stderr.write(`and ${unlisted} more quarantined shards (the coordinator's journal names each)\n`);
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

const RANKINGS_FLAGS: readonly FlagSpec[] = [
  { name: "format", value: "FORMAT", help: "table (default), json or csv" },
  ...CLIENT_FLAGS,
];

export const rankingsCommand: Command = {
  name: "rankings",
  summary: "print a sweep's rankings (partial while it runs, final when done)",
  synopsis: "rankings ID [--format table|json|csv] [--coordinator HOST:PORT]",
  flags: RANKINGS_FLAGS,
  run: async (argv, io) => {
    const v = parseFlags(RANKINGS_FLAGS, argv, { positionals: ["ID"] });
    const format =
      v.format === undefined ? "table" : choice("--format", String(v.format), ["table", "json", "csv"] as const);
    const c = client(v);
    try {
      const r = await call<GetRankingsRequest, RankingsMessage>(c.getRankings.bind(c), { id: String(v.ID) });
      const rankings = JSON.parse(r.json) as Rankings;
      io.stdout.write(
        format === "json" ? r.json : format === "csv" ? rankingsCsv(rankings) : `${formatRankings(rankings, 10)}\n`,
      );
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
