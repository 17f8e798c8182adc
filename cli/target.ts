/**
 * Where a remote command connects, and with what: each setting from the first of the flag, the
 * environment, the chosen context of the config file (cli/config.ts), the default.
 *
 *   address    --coordinator > $CNA_COORDINATOR > context coordinator > 127.0.0.1:7070
 *              (`cna drain`: --worker > 127.0.0.1:7071; a worker is not a context's)
 *   token      --token-file > $CNA_TOKEN_FILE > $CNA_TOKEN > context token-file > none
 *   TLS files  --tls-ca/--tls-cert/--tls-key > context tls-ca/tls-cert/tls-key > none
 *   context    --context > $CNA_CONTEXT > the file's current-context > none
 *
 * Read once per command, at the edge; nothing below cli/ sees the environment or the file.
 */
import type { GrpcClientOptions } from "../proto/index.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import { stringFlag } from "./args.ts";
import { configPath, readConfig, selectContext } from "./config.ts";
import type { Context } from "./config.ts";
import { clientOptions, hostPort, tokenOf } from "./connect.ts";
import { CliConfigError, UsageError } from "./errors.ts";

export const DEFAULT_COORDINATOR = "127.0.0.1:7070";

export const CONTEXT_FLAG: FlagSpec = {
  name: "context",
  value: "NAME",
  help: "use this context of the config file (default: $CNA_CONTEXT, else its current-context; see cna context)",
};

/** Who is at the other end, for messages that say what to check. */
export interface Peer {
  kind: "coordinator" | "worker";
  address: string;
  /** where the address came from: "--coordinator", "$CNA_COORDINATOR", "context lab", "default" */
  source: string;
}

export interface RemoteTarget {
  peer: Peer;
  options: GrpcClientOptions;
}

/** The coordinator a client command talks to, and how. */
export function coordinatorTarget(values: FlagValues, env: NodeJS.ProcessEnv = process.env): RemoteTarget {
  const chosen = contextOf(values, env);
  const ctx: Context = chosen?.context ?? {};
  const flag = stringFlag(values, "coordinator");
  const fromEnv = env.CNA_COORDINATOR === "" ? undefined : env.CNA_COORDINATOR;
  const [address, source] =
    flag !== undefined
      ? [flag, "--coordinator"]
      : fromEnv !== undefined
        ? [fromEnv, "$CNA_COORDINATOR"]
        : ctx.coordinator !== undefined
          ? [ctx.coordinator, `context ${chosen!.name}`]
          : [DEFAULT_COORDINATOR, "default"];
  checkAddress(address, source, chosen?.file);
  return { peer: { kind: "coordinator", address, source }, options: optionsOf(values, env, chosen) };
}

/** A worker's WorkerService (`cna drain`): the address from --worker; token and TLS as for a coordinator. */
export function workerTarget(values: FlagValues, env: NodeJS.ProcessEnv = process.env): RemoteTarget {
  const chosen = contextOf(values, env);
  const flag = stringFlag(values, "worker");
  const address = flag ?? "127.0.0.1:7071";
  hostPort("--worker", address);
  return {
    peer: { kind: "worker", address, source: flag === undefined ? "default" : "--worker" },
    options: optionsOf(values, env, chosen),
  };
}

interface Chosen {
  name: string;
  context: Context;
  file: string;
}

/** The selected context, reading the config file only when one may be selected. */
function contextOf(values: FlagValues, env: NodeJS.ProcessEnv): Chosen | undefined {
  const config = readConfig(configPath(env));
  const selected = selectContext(config, stringFlag(values, "context"), env);
  return selected && { ...selected, file: config.file };
}

function optionsOf(values: FlagValues, env: NodeJS.ProcessEnv, chosen: Chosen | undefined): GrpcClientOptions {
  const ctx = chosen?.context ?? {};
  const tokenFile = ctx["token-file"];
  const token = tokenOf(values, env, tokenFile === undefined ? undefined : { path: tokenFile, context: chosen!.name });
  // the context's TLS files stand in for flags not given
  const merged: FlagValues = { ...values };
  for (const field of ["tls-ca", "tls-cert", "tls-key"] as const)
    if (merged[field] === undefined && ctx[field] !== undefined) merged[field] = ctx[field];
  return clientOptions(merged, token);
}

/** A bad address from a flag is a usage error; from the environment or a context, it names that. */
function checkAddress(address: string, source: string, file: string | undefined): void {
  if (source === "--coordinator" || source === "default") {
    hostPort("--coordinator", address);
    return;
  }
  try {
    hostPort(source, address);
  } catch (err) {
    if (!(err instanceof UsageError) || source === "$CNA_COORDINATOR") throw err;
    const name = source.replace(/^context /, "");
    throw new CliConfigError(
      file ?? "",
      `contexts.${name}.coordinator`,
      `${file}: contexts.${name}.coordinator must be HOST:PORT, e.g. 127.0.0.1:7070 (got "${address}")`,
    );
  }
}
