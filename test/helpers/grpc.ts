/**
 * gRPC test helpers: promisified calls on the generated clients, clients for the standard
 * health and reflection services, and a throwaway self-signed certificate made with openssl.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Metadata, credentials, loadPackageDefinition } from "@grpc/grpc-js";
import type { CallOptions, Client, ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { prerequisite } from "./prereq.ts";

type UnaryMethod<Req, Res> = (
  req: Req,
  md: Metadata,
  options: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** Calls a generated client's unary method: `await unary(client, client.getSweep, { id })`. */
export function unary<Req, Res>(
  client: Client,
  method: UnaryMethod<Req, Res>,
  req: Req,
  md: Metadata = new Metadata(),
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** The `cna-error-code` trailer of a failed call. */
export const errorCodeOf = (err: unknown): unknown => (err as ServiceError).metadata?.get("cna-error-code")[0];

/** Awaits a call expected to fail and returns its ServiceError. */
export async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected the call to fail, it succeeded");
}

interface GenericClientCtor {
  new (
    address: string,
    creds: ReturnType<typeof credentials.createInsecure>,
  ): Client & Record<string, (...args: unknown[]) => unknown>;
}

function loadClient(file: string, includeDir: string, service: string): GenericClientCtor {
  const def = loadSync(file, {
    includeDirs: [includeDir],
    keepCase: false,
    enums: String,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  let node: unknown = loadPackageDefinition(def);
  for (const part of service.split(".")) node = (node as Record<string, unknown>)[part];
  return node as GenericClientCtor;
}

const require_ = (m: string): string => createRequire(import.meta.url).resolve(m);

/** grpc.health.v1.Health.Check, without credentials or metadata (as a probe would call it). */
export function healthCheck(address: string, service = ""): Promise<{ status: string }> {
  const dir = join(require_("grpc-health-check"), "..", "..", "..", "proto");
  const Health = loadClient("health/v1/health.proto", dir, "grpc.health.v1.Health");
  const client = new Health(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    (
      client.Check as (
        req: unknown,
        md: Metadata,
        o: object,
        cb: (err: Error | null, res: { status: string }) => void,
      ) => void
    )({ service }, new Metadata(), { deadline: Date.now() + 10_000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
  });
}

/** grpc.reflection.v1 ListServices: the fully-qualified names the server reflects. */
export function reflectedServices(address: string, md: Metadata = new Metadata()): Promise<string[]> {
  const dir = join(require_("@grpc/reflection"), "..", "..", "proto");
  const Reflection = loadClient("grpc/reflection/v1/reflection.proto", dir, "grpc.reflection.v1.ServerReflection");
  const client = new Reflection(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const stream = (
      client.ServerReflectionInfo as (md: Metadata) => NodeJS.EventEmitter & { write(m: unknown): void; end(): void }
    )(md);
    stream.on(
      "data",
      (res: {
        listServicesResponse?: { service: Array<{ name: string }> };
        errorResponse?: { errorMessage: string };
      }) => {
        if (res.listServicesResponse) resolve(res.listServicesResponse.service.map((s) => s.name).sort());
        else reject(new Error(res.errorResponse?.errorMessage ?? "no list_services_response"));
        stream.end();
      },
    );
    stream.on("error", (err: Error) => {
      client.close();
      reject(err);
    });
    stream.on("end", () => client.close());
    stream.write({ listServices: "*" });
  });
}

export const opensslPrerequisite = prerequisite("openssl", () =>
  spawnSync("openssl", ["version"]).status === 0 ? null : "openssl not found (apt-get install openssl)",
);

/** A self-signed certificate for 127.0.0.1 / localhost in a temp dir; removed on dispose. */
export function selfSignedCert(): { certPath: string; keyPath: string } & Disposable {
  const dir = mkdtempSync(join(tmpdir(), "cna-tls-"));
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  const r = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { certPath, keyPath, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}
