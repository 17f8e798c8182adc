/**
 * What every cna gRPC server shares — the coordinator's SweepService and the worker's
 * WorkerService: options resolved once, bind (port 0 = ephemeral, read back), optional TLS, the
 * bearer-token check, grpc.health.v1, server reflection, an exactly-once unary reply, and close().
 *
 * Auth: with a token, every call must carry `authorization: Bearer <token>`, or it ends with
 * UNAUTHENTICATED before any handler runs. grpc.health.v1 stays open so that Kubernetes probes
 * and load balancers need no secret (it reveals only SERVING / NOT_SERVING); reflection is
 * protected like the services it describes (`grpcurl -H 'authorization: Bearer ...'`).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Server, ServerCredentials, ServerInterceptingCall } from "@grpc/grpc-js";
import type {
  handleUnaryCall,
  Metadata,
  ServerInterceptor,
  ServerUnaryCall,
  ServiceDefinition,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as HEALTH_PROTO } from "grpc-health-check";
import { SpecError, describeValue } from "../core/index.ts";
import { BadRequestError, ListenError, UnauthenticatedError, toGrpcStatus } from "./errors.ts";
import { checkTlsFiles } from "./tls.ts";

/** Where the .proto files live (include root: `cna/v1/sweep.proto` is under it). */
export const PROTO_DIR = fileURLToPath(new URL(".", import.meta.url));

export interface TlsServerOptions {
  /** PEM certificate chain of the server */
  certPath: string;
  /** PEM private key of the server */
  keyPath: string;
  /** PEM CA bundle; when given, clients must present a certificate it signed (mutual TLS) */
  caPath?: string;
}

/** Largest single gRPC message a server accepts by default: a 1 MiB result chunk with room to spare. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface GrpcServeOptions {
  /** interface to bind (default 127.0.0.1; 0.0.0.0 in a container) */
  host?: string;
  /** port to bind (default 0: an ephemeral port, read back from the handle) */
  port?: number;
  /** when set, every call but grpc.health.v1 must carry `authorization: Bearer <token>` */
  token?: string;
  /** serve TLS instead of plaintext */
  tls?: TlsServerOptions;
  /** largest single message accepted (default 4 MiB: a 1 MiB result chunk with room to spare) */
  maxMessageBytes?: number;
  /** how long close() lets calls in flight finish before cutting them (default 5000) */
  shutdownGraceMs?: number;
}

export interface ResolvedGrpcServeOptions {
  host: string;
  port: number;
  token: string | null;
  tls: { cert: Buffer; key: Buffer; ca: Buffer | null } | null;
  maxMessageBytes: number;
  shutdownGraceMs: number;
}

/** Validates and fills in defaults; a bad value throws a SpecError naming the field. */
export function resolveGrpcServeOptions(o: GrpcServeOptions): ResolvedGrpcServeOptions {
  const host = o.host ?? "127.0.0.1";
  if (host.trim() === "")
    throw new SpecError("host", "host must not be empty (use 127.0.0.1, or 0.0.0.0 for every interface)");
  const port = o.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new SpecError("port", `port must be an integer from 0 to 65535, got ${describeValue(port)}`);
  if (o.token !== undefined && !/^[\x21-\x7e]+$/.test(o.token)) {
    throw new SpecError(
      "token",
      "token must be non-empty printable ASCII without spaces (it travels in an HTTP/2 header)",
    );
  }
  const maxMessageBytes = positiveInt("maxMessageBytes", o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  const shutdownGraceMs = positiveInt("shutdownGraceMs", o.shutdownGraceMs ?? 5_000, true);
  return { host, port, token: o.token ?? null, tls: o.tls ? readTls(o.tls) : null, maxMessageBytes, shutdownGraceMs };
}

function positiveInt(field: string, value: number, zeroOk = false): number {
  if (!Number.isInteger(value) || value < (zeroOk ? 0 : 1))
    throw new SpecError(field, `${field} must be an integer ${zeroOk ? ">= 0" : "> 0"}, got ${describeValue(value)}`);
  return value;
}

/**
 * Reads and checks a server's TLS files (TLS_INVALID naming the file and its flag) and returns
 * the options as given: for a composition root to refuse bad files before it connects to anything.
 */
export function checkTlsServerOptions(tls: TlsServerOptions): TlsServerOptions {
  readTls(tls);
  return tls;
}

function readTls(tls: TlsServerOptions): NonNullable<ResolvedGrpcServeOptions["tls"]> {
  const read = (field: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new SpecError(field, `cannot read ${field} ${JSON.stringify(path)}: ${(err as Error).message}`, err);
    }
  };
  const cert = read("tls.certPath", tls.certPath);
  const key = read("tls.keyPath", tls.keyPath);
  const ca = tls.caPath === undefined ? null : read("tls.caPath", tls.caPath);
  checkTlsFiles({
    cert: { path: tls.certPath, bytes: cert },
    key: { path: tls.keyPath, bytes: key },
    ca: ca && tls.caPath !== undefined ? { path: tls.caPath, bytes: ca } : null,
  });
  return { cert, key, ca };
}

/** One service to serve. */
export interface GrpcServiceBinding {
  /** fully-qualified name, e.g. `cna.v1.SweepService` (its health status key) */
  name: string;
  /** the .proto declaring it, relative to {@link PROTO_DIR}, for reflection */
  protoFile: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  /** runs first in close(): end long-lived streams so that shutdown need not wait for them */
  onClose?: () => void;
}

export interface GrpcServerHandle extends AsyncDisposable {
  /** the bound port (the ephemeral one when asked for 0) */
  readonly port: number;
  /** `host:port` to dial */
  readonly address: string;
  /** NOT_SERVING, then lets calls finish for shutdownGraceMs, then cuts the rest. Idempotent. */
  close(): Promise<void>;
}

const HEALTH_PREFIX = "/grpc.health.v1.Health/";

/** Binds and serves `services` plus health and reflection. */
export async function serveGrpc(
  o: ResolvedGrpcServeOptions,
  services: readonly GrpcServiceBinding[],
): Promise<GrpcServerHandle> {
  const server = new Server({
    "grpc.max_receive_message_length": o.maxMessageBytes,
    interceptors: o.token === null ? [] : [bearerAuth(o.token)],
  });
  for (const s of services)
    server.addService(tolerantDefinition(s.definition), refusingUndecodable(s.definition, s.implementation));
  const health = new HealthImplementation(
    Object.fromEntries([["", "SERVING"], ...services.map((s) => [s.name, "SERVING"] as const)]),
  );
  health.addToServer(server);
  const reflected = loadSync([...services.map((s) => s.protoFile), HEALTH_PROTO], { includeDirs: [PROTO_DIR] });
  new ReflectionService(reflected).addToServer(server);

  const credentials = o.tls
    ? ServerCredentials.createSsl(o.tls.ca, [{ cert_chain: o.tls.cert, private_key: o.tls.key }], o.tls.ca !== null)
    : ServerCredentials.createInsecure();
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  const address = `${host}:${o.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
  ).catch((err: unknown) => {
    // nothing is bound: let go of the server so the process is not kept alive by it
    server.forceShutdown();
    const why = /EADDRINUSE/.test(String(err))
      ? "the address is in use (another process listens there)"
      : /EACCES/.test(String(err))
        ? "permission denied"
        : /EADDRNOTAVAIL/.test(String(err))
          ? "the address is not one of this machine's"
          : (err as Error).message.split("\n")[0];
    throw new ListenError(address, `cannot listen on ${address}: ${why}`, err);
  });

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const s of ["", ...services.map((x) => x.name)]) health.setStatus(s, "NOT_SERVING");
      for (const s of services) s.onClose?.();
      await new Promise<void>((resolve) => {
        const cut = setTimeout(() => server.forceShutdown(), o.shutdownGraceMs);
        server.tryShutdown(() => {
          clearTimeout(cut);
          resolve();
        });
      });
    })();
    return closing;
  };
  return { port, address: `${host}:${port}`, close, [Symbol.asyncDispose]: close };
}

/**
 * A request message the server could not decode (bytes that are not the method's protobuf
 * message). grpc-js would end such a call with a bare INTERNAL "Error deserializing request",
 * which reads as a bug; instead the decoder hands this on in place of the message and the call
 * ends with BAD_REQUEST. Unary and server-streaming handlers never see it (refused here); a
 * client-streaming handler gets it as a message and must refuse it (`instanceof`).
 */
export class UndecodableMessage {
  constructor(readonly reason: string) {}

  toError(): BadRequestError {
    return new BadRequestError("request", `not a valid protobuf message for this method: ${this.reason}`);
  }
}

type MethodDefinition = ServiceDefinition[string];

function tolerantDefinition(definition: ServiceDefinition): ServiceDefinition {
  const methods = Object.entries(definition).map(([name, m]: [string, MethodDefinition]) => {
    const decode = (bytes: Buffer): unknown => {
      try {
        return m.requestDeserialize(bytes);
      } catch (err) {
        return new UndecodableMessage(err instanceof Error ? err.message : String(err));
      }
    };
    return [name, { ...m, requestDeserialize: decode }];
  });
  return Object.fromEntries(methods) as ServiceDefinition;
}

function refusingUndecodable(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
): UntypedServiceImplementation {
  const wrapped: UntypedServiceImplementation = { ...implementation };
  for (const [name, m] of Object.entries<MethodDefinition>(definition)) {
    const handler = implementation[name];
    if (handler === undefined || m.requestStream) continue;
    if (m.responseStream) {
      const serverStream = handler as (call: { request: unknown; emit(e: string, s: unknown): boolean }) => void;
      wrapped[name] = ((call: Parameters<typeof serverStream>[0]) => {
        if (call.request instanceof UndecodableMessage) call.emit("error", toGrpcStatus(call.request.toError()));
        else serverStream(call);
      }) as UntypedServiceImplementation[string];
    } else {
      const unary = handler as (call: { request: unknown }, callback: (err: unknown) => void) => void;
      wrapped[name] = ((call: { request: unknown }, callback: (err: unknown) => void) => {
        if (call.request instanceof UndecodableMessage) callback(toGrpcStatus(call.request.toError()));
        else unary(call, callback);
      }) as UntypedServiceImplementation[string];
    }
  }
  return wrapped;
}

/** Rejects calls without the bearer token before any handler (or backend) sees them. */
function bearerAuth(token: string): ServerInterceptor {
  const expected = createHash("sha256").update(`Bearer ${token}`).digest();
  const matches = (md: Metadata): boolean => {
    const got = md.get("authorization");
    if (got.length !== 1 || typeof got[0] !== "string") return false;
    return timingSafeEqual(createHash("sha256").update(got[0]).digest(), expected);
  };
  return (method, call) => {
    if (method.path.startsWith(HEALTH_PREFIX)) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(md, mdNext) {
            const present = md.get("authorization").length > 0;
            if (matches(md)) mdNext(md);
            else
              call.sendStatus(
                toGrpcStatus(
                  new UnauthenticatedError(
                    present
                      ? "the bearer token is not valid"
                      : "authorization metadata missing: send `authorization: Bearer <token>`",
                  ),
                ),
              );
          },
        });
      },
    });
  };
}

/**
 * A unary handler that replies exactly once: with `fn`'s value, or with the status
 * {@link toGrpcStatus} gives for what it threw (synchronously or not).
 */
export function unaryHandler<Req, Res>(
  fn: (request: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    new Promise<Res>((resolve) => resolve(fn(call.request, call))).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toGrpcStatus(err)),
    );
  };
}
