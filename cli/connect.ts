/**
 * Flags and environment every distributed command shares: the gRPC bearer token and TLS files,
 * the NATS server and its credentials. Read once here, at the edge (docs/architecture.md convention 4).
 *
 *   CNA_TOKEN_FILE   file holding the gRPC bearer token (or --token-file)
 *   CNA_TOKEN        the gRPC bearer token itself (after --token-file and CNA_TOKEN_FILE)
 *   CNA_NATS_PASS    the NATS password (or --nats-pass-file)
 *   CNA_NAMESPACE    the shard namespace on a shared NATS server (or --namespace)
 */
import { readFileSync } from "node:fs";
import type { ServiceError } from "@grpc/grpc-js";
import { checkNamespace } from "../app/index.ts";
import type { NatsOptions } from "../app/index.ts";
import { fromGrpcError } from "../proto/index.ts";
import type { GrpcClientOptions } from "../proto/index.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import { integerFlag, stringFlag } from "./args.ts";
import { InsecureListenError, SecretRejectedError, UsageError } from "./errors.ts";

export const AUTH_FLAGS: readonly FlagSpec[] = [
  {
    name: "token-file",
    value: "FILE",
    help: "file holding the gRPC bearer token, at least 16 bytes (default: $CNA_TOKEN_FILE, else $CNA_TOKEN; none: no auth)",
  },
  { name: "tls-cert", value: "FILE", help: "PEM certificate (server: its own; client: for mutual TLS)" },
  { name: "tls-key", value: "FILE", help: "PEM private key of --tls-cert" },
  {
    name: "tls-ca",
    value: "FILE",
    help: "PEM CA bundle (client: to verify the server; server: to require client certificates)",
  },
];

export const NATS_FLAGS: readonly FlagSpec[] = [
  {
    name: "nats",
    value: "URL",
    help: "NATS server with JetStream, e.g. nats://127.0.0.1:4222 (nats://USER:PASS@HOST:PORT gives the user and password)",
  },
  { name: "nats-user", value: "USER", help: "NATS user (password from --nats-pass-file or $CNA_NATS_PASS)" },
  { name: "nats-pass-file", value: "FILE", help: "file holding the NATS password" },
  { name: "nats-creds", value: "FILE", help: "NATS credentials file (.creds)" },
  {
    name: "connect-timeout",
    value: "SECONDS",
    help: "keep trying to reach NATS (a worker: and its coordinator) at start-up this long, with backoff (default 60)",
  },
  {
    name: "namespace",
    value: "NAME",
    help: "the coordinator's own JetStream stream and subjects on a shared NATS server: 1-32 of a-z, 0-9, _ and - (default $CNA_NAMESPACE, else derived from the data directory: the same directory, the same namespace)",
  },
];

/** --namespace's help for `cna worker`, whose default is its coordinator's. */
export const WORKER_NAMESPACE_HELP =
  "pull from this namespace only; it must be the coordinator's (default $CNA_NAMESPACE, else the namespace the coordinator names when asked at start)";

/** The shortest bearer token accepted: 16 bytes, about 96 bits when drawn from base64. */
export const MIN_TOKEN_BYTES = 16;

/**
 * A secret read from a file the user named. An empty or whitespace-only file is refused rather
 * than read as "no secret": that would silently turn authentication off.
 */
function readSecret(path: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new UsageError(flag, `${flag} ${path}: ${(err as Error).message}`, err);
  }
  if (text === "")
    throw new SecretRejectedError(
      `${flag} ${path}`,
      `${flag} ${path} is empty; put the secret in it, or leave out ${flag}`,
    );
  return text;
}

/** An explicitly given token, refused when empty or shorter than {@link MIN_TOKEN_BYTES}; never echoed. */
function checkedToken(token: string, source: string): string {
  if (token === "")
    throw new SecretRejectedError(
      source,
      `${source} is empty or whitespace only; set a token of at least ${MIN_TOKEN_BYTES} bytes, or unset it for no authentication`,
    );
  const bytes = Buffer.byteLength(token);
  if (bytes < MIN_TOKEN_BYTES)
    throw new SecretRejectedError(
      source,
      `the token from ${source} is ${bytes} bytes; at least ${MIN_TOKEN_BYTES} are required (e.g. openssl rand -base64 32)`,
    );
  return token;
}

/**
 * The gRPC bearer token, from the first of: --token-file, $CNA_TOKEN_FILE, $CNA_TOKEN, and for a
 * client the chosen context's token-file (`contextFile`, from cli/config.ts); undefined only when
 * none is given. A given one that is empty or too short is an error, never "no token".
 */
export function tokenOf(
  values: FlagValues,
  env: NodeJS.ProcessEnv = process.env,
  contextFile?: { path: string; context: string },
): string | undefined {
  const file = stringFlag(values, "token-file");
  if (file !== undefined) return checkedToken(readSecret(file, "--token-file"), `--token-file ${file}`);
  const envFile = env.CNA_TOKEN_FILE;
  if (envFile !== undefined && envFile !== "")
    return checkedToken(readSecret(envFile, "$CNA_TOKEN_FILE"), `$CNA_TOKEN_FILE ${envFile}`);
  const fromEnv = env.CNA_TOKEN;
  if (fromEnv !== undefined) return checkedToken(fromEnv.trim(), "$CNA_TOKEN");
  if (contextFile === undefined) return undefined;
  const source = `the token-file of context ${contextFile.context}`;
  return checkedToken(readSecret(contextFile.path, source), `${source} (${contextFile.path})`);
}

export const INSECURE_FLAG: FlagSpec = {
  name: "insecure",
  help: "listen on a non-loopback address without a token or TLS (anyone who reaches the port may call it)",
};

/** True for addresses only this machine reaches: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * A server on a non-loopback address needs a token or TLS, or an explicit --insecure (which is
 * warned about): an open port on a cluster network must be a decision, not an omission.
 */
export function checkListenSecurity(
  who: string,
  host: string,
  secured: boolean,
  values: FlagValues,
  warn: (line: string) => void,
): void {
  if (secured || isLoopback(host)) return;
  if (values.insecure !== true) {
    throw new InsecureListenError(
      host,
      `${who}: refusing to listen on ${host} with neither a token (--token-file or $CNA_TOKEN) nor TLS (--tls-cert/--tls-key); give one, listen on 127.0.0.1, or pass --insecure`,
    );
  }
  warn(
    `${who}: WARNING: listening on ${host} without a token or TLS (--insecure): anyone who reaches this port can call it`,
  );
}

/** A gRPC client's token and TLS files; `token` when already read (it is read once per process). */
export function clientOptions(values: FlagValues, token: string | undefined = tokenOf(values)): GrpcClientOptions {
  const ca = stringFlag(values, "tls-ca");
  const cert = stringFlag(values, "tls-cert");
  const key = stringFlag(values, "tls-key");
  const tls =
    ca || cert || key
      ? { ...(ca ? { caPath: ca } : {}), ...(cert ? { certPath: cert } : {}), ...(key ? { keyPath: key } : {}) }
      : undefined;
  return { ...(token ? { token } : {}), ...(tls ? { tls } : {}) };
}

export function serverTls(values: FlagValues): { certPath: string; keyPath: string; caPath?: string } | undefined {
  const cert = stringFlag(values, "tls-cert");
  const key = stringFlag(values, "tls-key");
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined)
    throw new UsageError(
      cert === undefined ? "--tls-cert" : "--tls-key",
      "a TLS server needs both --tls-cert and --tls-key",
    );
  const ca = stringFlag(values, "tls-ca");
  return { certPath: cert, keyPath: key, ...(ca ? { caPath: ca } : {}) };
}

/** host:port to listen on or dial; "HOST:0" picks a free port. */
export function hostPort(flag: string, text: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535)
    throw new UsageError(flag, `${flag} must be HOST:PORT, e.g. 127.0.0.1:7070 (got "${text}")`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

/**
 * How to reach NATS: --nats (required here), a user with a password from --nats-pass-file or
 * $CNA_NATS_PASS, or a creds file, and --connect-timeout (default: the app's). A password file
 * that is empty, or a $CNA_NATS_PASS that is only whitespace, is refused, never read as none.
 */
export function natsOptionsOf(values: FlagValues, env: NodeJS.ProcessEnv = process.env): NatsOptions {
  const timeoutText = stringFlag(values, "connect-timeout");
  const connectTimeoutMs =
    timeoutText === undefined ? undefined : 1000 * integerFlag("--connect-timeout", timeoutText, 0);
  const url = stringFlag(values, "nats");
  if (url === undefined) throw new UsageError("--nats", "missing --nats URL (a NATS server with JetStream)");
  const user = stringFlag(values, "nats-user");
  const passFile = stringFlag(values, "nats-pass-file");
  const creds = stringFlag(values, "nats-creds");
  const envPass = env.CNA_NATS_PASS;
  if (passFile === undefined && envPass !== undefined && envPass.trim() === "")
    throw new SecretRejectedError(
      "$CNA_NATS_PASS",
      "$CNA_NATS_PASS is empty or whitespace only; set the NATS password, or unset it",
    );
  const pass = passFile !== undefined ? readSecret(passFile, "--nats-pass-file") : envPass;
  const namespace = namespaceOf(values, env);
  return {
    servers: url,
    ...(user !== undefined ? { user, ...(pass !== undefined ? { pass } : {}) } : {}),
    ...(creds !== undefined ? { credsFile: creds } : {}),
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
  };
}

/** --namespace, else $CNA_NAMESPACE (an empty one refused, not read as unset); undefined when neither is given. */
function namespaceOf(values: FlagValues, env: NodeJS.ProcessEnv): string | undefined {
  const flag = stringFlag(values, "namespace");
  const [source, text] = flag !== undefined ? ["--namespace", flag] : ["$CNA_NAMESPACE", env.CNA_NAMESPACE];
  if (text === undefined) return undefined;
  try {
    return checkNamespace(source, text);
  } catch (err) {
    throw new UsageError(source, (err as Error).message, err);
  }
}

/** Promisifies a unary grpc-js client call, turning failures into CnaErrors (code from the server). */
export function call<Req, Res>(
  fn: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, (err, res) => (err ? reject(fromGrpcError(err)) : resolve(res)));
  });
}
