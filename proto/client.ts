/**
 * Typed clients for the cna services: the generated grpc-js clients with the channel set up the
 * way our servers expect — TLS when asked, and the bearer token on every call (an interceptor,
 * so that it works on plaintext channels too, where grpc-js refuses call credentials).
 *
 * Turn a failed call into a CnaError with `fromGrpcError` (retryable: UNAVAILABLE,
 * DEADLINE_EXCEEDED).
 */
import { readFileSync } from "node:fs";
import { checkTlsFiles } from "./tls.ts";
import { InterceptingCall, credentials } from "@grpc/grpc-js";
import type { ChannelCredentials, ClientOptions, Interceptor } from "@grpc/grpc-js";
import { SpecError } from "../core/index.ts";
import { SweepServiceClient } from "./gen/cna/v1/sweep.ts";
import { WorkerServiceClient } from "./gen/cna/v1/worker.ts";

export interface TlsClientOptions {
  /** PEM CA bundle to verify the server with (default: the system's roots) */
  caPath?: string;
  /** mutual TLS: this client's PEM certificate chain (with keyPath) */
  certPath?: string;
  /** mutual TLS: this client's PEM private key (with certPath) */
  keyPath?: string;
  /** verify the server's certificate for this name instead of the address's host */
  serverName?: string;
}

export interface GrpcClientOptions {
  /** sent as `authorization: Bearer <token>` on every call */
  token?: string;
  /** dial TLS instead of plaintext */
  tls?: TlsClientOptions;
  /** largest single message accepted or sent (default 4 MiB) */
  maxMessageBytes?: number;
}

/** A SweepService client (CLI: submit, watch, rankings; workers: ReportShard). Close with `.close()`. */
export function createSweepClient(address: string, options: GrpcClientOptions = {}): SweepServiceClient {
  const { creds, channel } = channelOf(address, options);
  return new SweepServiceClient(address, creds, channel);
}

/** A WorkerService client (describe, analyze, drain). Close with `.close()`. */
export function createWorkerClient(address: string, options: GrpcClientOptions = {}): WorkerServiceClient {
  const { creds, channel } = channelOf(address, options);
  return new WorkerServiceClient(address, creds, channel);
}

function channelOf(
  address: string,
  o: GrpcClientOptions,
): { creds: ChannelCredentials; channel: Partial<ClientOptions> } {
  if (address.trim() === "") throw new SpecError("address", "address must be host:port, e.g. 127.0.0.1:7070");
  if (o.token !== undefined && !/^[\x21-\x7e]+$/.test(o.token))
    throw new SpecError("token", "token must be non-empty printable ASCII without spaces");
  const maxMessageBytes = o.maxMessageBytes ?? 4 * 1024 * 1024;
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1)
    throw new SpecError("maxMessageBytes", "maxMessageBytes must be a positive integer");
  const channel: Partial<ClientOptions> = {
    "grpc.max_receive_message_length": maxMessageBytes,
    "grpc.max_send_message_length": maxMessageBytes,
    interceptors: o.token === undefined ? [] : [bearer(o.token)],
  };
  if (!o.tls) return { creds: credentials.createInsecure(), channel };
  const t = o.tls;
  if ((t.certPath === undefined) !== (t.keyPath === undefined))
    throw new SpecError(
      t.certPath === undefined ? "tls.certPath" : "tls.keyPath",
      "mutual TLS needs both tls.certPath and tls.keyPath",
    );
  if (t.serverName !== undefined) channel["grpc.ssl_target_name_override"] = t.serverName;
  const ca = read("tls.caPath", t.caPath);
  const key = read("tls.keyPath", t.keyPath);
  const cert = read("tls.certPath", t.certPath);
  const file = (path: string | undefined, bytes: Buffer | null) =>
    path !== undefined && bytes !== null ? { path, bytes } : null;
  checkTlsFiles({ cert: file(t.certPath, cert), key: file(t.keyPath, key), ca: file(t.caPath, ca) });
  const creds = credentials.createSsl(ca, key, cert);
  return { creds, channel };
}

function read(field: string, path: string | undefined): Buffer | null {
  if (path === undefined) return null;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SpecError(field, `cannot read ${field} ${JSON.stringify(path)}: ${(err as Error).message}`, err);
  }
}

function bearer(token: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("authorization", `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}
