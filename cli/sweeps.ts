/**
 * Managing a coordinator's sweeps: `cna list`, `cna cancel ID`, `cna rerun ID --failed`.
 * Connection flags, environment and contexts as for every remote command (cli/target.ts).
 */
import type {
  CancelSweepRequest,
  ListSweepsRequest,
  ListSweepsResponse,
  RerunSweepRequest,
  Sweep,
} from "../proto/index.ts";
import { parseFlags } from "./args.ts";
import type { Command } from "./command.ts";
import { UsageError } from "./errors.ts";
import { callPeer } from "./remote-errors.ts";
import { JSON_FLAG, clientFlags, connect } from "./remote.ts";
import { sweepJson, sweepLine, sweepTable } from "./sweep-view.ts";

const LIST_FLAGS = clientFlags({
  name: "json",
  help: "print a JSON array of the sweeps (id, name, state, done, total, quarantined, createdAt, ...)",
});

export const listCommand: Command = {
  name: "list",
  summary: "list a coordinator's sweeps, newest first: state, progress, quarantined shards, age",
  synopsis: "list [--coordinator HOST:PORT] [--context NAME] [--json]",
  flags: LIST_FLAGS,
  notes:
    "PROGRESS is shards stored / shards the sweep will have, over every stage.\nExample:\n  cna list --json | jq -r '.[] | select(.state == \"failed\") | .id'",
  run: async (argv, io) => {
    const v = parseFlags(LIST_FLAGS, argv);
    const { c, peer } = connect(v);
    try {
      const r = await callPeer<ListSweepsRequest, ListSweepsResponse>(peer, c.listSweeps.bind(c), {});
      if (v.json === true) io.stdout.write(`${JSON.stringify(r.sweeps.map(sweepJson), null, 2)}\n`);
      else if (r.sweeps.length === 0) io.stderr.write(`no sweeps on the coordinator at ${peer.address}\n`);
      else io.stdout.write(`${sweepTable(r.sweeps, Date.now())}\n`);
      return 0;
    } finally {
      c.close();
    }
  },
};

const CANCEL_FLAGS = clientFlags(JSON_FLAG);

export const cancelCommand: Command = {
  name: "cancel",
  summary: "cancel a sweep: nothing more is published, queued shards are dropped (final)",
  synopsis: "cancel ID [--coordinator HOST:PORT] [--context NAME] [--json]",
  flags: CANCEL_FLAGS,
  notes:
    "A finished sweep is left as it is. A cancelled sweep is not run again (cna rerun refuses it).\nExample:\n  cna cancel zoo-quick-3f2a9c1b7e",
  run: async (argv, io) => {
    const v = parseFlags(CANCEL_FLAGS, argv, { positionals: ["ID"] });
    const { c, peer } = connect(v);
    try {
      const sweep = await callPeer<CancelSweepRequest, Sweep>(peer, c.cancelSweep.bind(c), { id: String(v.ID) });
      print(io, sweep, v.json === true);
      return 0;
    } finally {
      c.close();
    }
  },
};

const RERUN_FLAGS = clientFlags(
  { name: "failed", help: "re-queue the sweep's quarantined shards (required: the one kind of rerun)" },
  JSON_FLAG,
);

export const rerunCommand: Command = {
  name: "rerun",
  summary: "re-queue a sweep's quarantined shards once their cause is fixed; it runs on to the end",
  synopsis: "rerun ID --failed [--coordinator HOST:PORT] [--context NAME] [--json]",
  flags: RERUN_FLAGS,
  notes:
    "Each quarantined shard is published again with a fresh delivery budget; the sweep is running again\nand finishes as if nothing had failed (its rankings are the same bytes as a clean run's). Refused:\nan unknown sweep (SWEEP_NOT_FOUND), a cancelled one (SWEEP_CANCELLED), one with no quarantined\nshard (NOTHING_TO_RERUN).\nExample:\n  cna rerun zoo-quick-3f2a9c1b7e --failed && cna watch zoo-quick-3f2a9c1b7e",
  run: async (argv, io) => {
    const v = parseFlags(RERUN_FLAGS, argv, { positionals: ["ID"] });
    if (v.failed !== true)
      throw new UsageError(
        "--failed",
        "cna rerun needs --failed (re-queue the quarantined shards; stored results are never rerun)",
      );
    const { c, peer } = connect(v);
    try {
      const sweep = await callPeer<RerunSweepRequest, Sweep>(peer, c.rerunSweep.bind(c), {
        id: String(v.ID),
        failedOnly: true,
      });
      if (v.json !== true) io.stderr.write(`re-queued the quarantined shards of ${sweep.id}; it is running again\n`);
      print(io, sweep, v.json === true);
      return 0;
    } finally {
      c.close();
    }
  },
};

function print(io: Parameters<Command["run"]>[1], sweep: Sweep, json: boolean): void {
  if (json) io.stdout.write(`${JSON.stringify(sweepJson(sweep))}\n`);
  else io.stdout.write(`${sweepLine(sweep)}\n`);
}
