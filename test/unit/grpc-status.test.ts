/**
 * One table decides the gRPC status of every named error (proto/errors.ts). Every stable code
 * declared in the source has a status there other than INTERNAL, or is one that never ends a
 * call (the CLI's own, a client's) or is decided by its retry class; a new code must take a side.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { LimitExceededError, SpecError } from "../../core/index.ts";
import { DiskFullError, StoreError, SweepNotFoundError } from "../../coordinator/index.ts";
import { Metadata } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { BadRequestError, fromGrpcError, grpcStatusFor, toGrpcStatus } from "../../proto/index.ts";
import { QueueClosedError, QueueConfigError, QueueUnavailableError } from "../../transport/index.ts";
import { ModelNotFoundError } from "../../worker/index.ts";

const ROOT = join(import.meta.dirname, "..", "..");

/** Codes that never end a gRPC call: the CLI's own refusals, a client's view of an answer, the catch-all. */
const NOT_ON_THE_WIRE = new Set([
  "OUTPUT_WRITE_FAILED",
  "SECRET_REJECTED",
  "INSECURE_LISTEN",
  "BAD_CLI_CONFIG",
  "UNKNOWN_CONTEXT",
  "RANKINGS_NOT_FOUND",
  "BAD_RANKINGS_FILE",
  "LISTEN_FAILED",
  "START_ABORTED",
  "BAD_RESPONSE",
  "BAD_REPORT_INPUT",
  "TLS_HANDSHAKE_FAILED",
  "GRPC_UNAVAILABLE",
  "INTERNAL",
]);

/** Every `code` an error in the source declares, with its retry class. */
function declaredCodes(): Map<string, boolean> {
  const codes = new Map<string, boolean>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "gen") walk(path);
      } else if (entry.name.endsWith(".ts")) {
        const text = readFileSync(path, "utf8");
        for (const m of text.matchAll(/code: "([A-Z_]+)"(?:,\s*retryable: (true|false))?/g))
          codes.set(m[1]!, m[2] === "true");
        // worker/model's errors pass their code to the ModelError base class (never retryable)
        for (const m of text.matchAll(/super\(\s*"([A-Z_]+)",\s/g)) codes.set(m[1]!, false);
      }
    }
  };
  for (const folder of ["core", "coordinator", "worker", "transport", "app", "cli", "proto", "report"])
    walk(join(ROOT, folder));
  return codes;
}

describe("gRPC status of named errors", () => {
  it("gives every code that can end a call a status other than INTERNAL", () => {
    const codes = declaredCodes();
    expect(codes.size).toBeGreaterThan(30);
    const internal = [...codes]
      .filter(([code, retryable]) => !NOT_ON_THE_WIRE.has(code) && grpcStatusFor(code, retryable) === status.INTERNAL)
      .map(([code]) => code);
    expect(internal).toEqual([]);
  });

  it("maps each kind of failure to its status", () => {
    const cases: Array<[unknown, status, string]> = [
      [new SpecError("models[0].path", "bad"), status.INVALID_ARGUMENT, "BAD_SPEC"],
      [new BadRequestError("header.sha256", "bad"), status.INVALID_ARGUMENT, "BAD_REQUEST"],
      [new SweepNotFoundError("s"), status.NOT_FOUND, "SWEEP_NOT_FOUND"],
      [new ModelNotFoundError("/m", "no model"), status.NOT_FOUND, "MODEL_NOT_FOUND"],
      [
        new QueueConfigError("CNA_SHARDS", null, "maximum messages exceeded"),
        status.FAILED_PRECONDITION,
        "QUEUE_MISCONFIGURED",
      ],
      [new LimitExceededError("maxShards", "too many"), status.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED"],
      [new QueueUnavailableError("nats://x", "away"), status.UNAVAILABLE, "QUEUE_UNAVAILABLE"],
      [new QueueClosedError("publish"), status.UNAVAILABLE, "QUEUE_CLOSED"],
      [new StoreError("/data", "disk full"), status.UNAVAILABLE, "STORE_FAILED"],
      // a full disk is waited out: the worker keeps the shard and reports it again
      [new DiskFullError("/data", "no space"), status.UNAVAILABLE, "DISK_FULL"],
      [new Error("a bug"), status.INTERNAL, "INTERNAL"],
    ];
    for (const [err, want, code] of cases) {
      const s = toGrpcStatus(err);
      expect([status[s.code], s.metadata?.get("cna-error-code")[0]], code).toEqual([status[want], code]);
    }
  });
});

describe("a message over the server's size limit", () => {
  it("is MESSAGE_TOO_LARGE for the client, naming the flag that raises it", () => {
    const err = fromGrpcError(
      Object.assign(new Error("8 RESOURCE_EXHAUSTED"), {
        code: status.RESOURCE_EXHAUSTED,
        details: "Received message larger than max (70000 vs. 65536)",
        metadata: new Metadata(),
      }),
    );
    expect([err.code, err.retryable]).toEqual(["MESSAGE_TOO_LARGE", false]);
    expect(err.message).toMatch(
      /\(Received message larger than max \(70000 vs\. 65536\)\); its --max-message-bytes raises it$/,
    );
  });
});

describe("a call that never reached the server", () => {
  const unreached = (last: string): ServiceError =>
    Object.assign(new Error("14 UNAVAILABLE"), {
      code: status.UNAVAILABLE,
      details: `No connection established. Last error: ${last}. Resolution note: `,
      metadata: new Metadata(),
    });

  it("says in words which TLS flag to fix, and stays retryable", () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        "Error: unable to verify the first certificate",
        "TLS_HANDSHAKE_FAILED",
        /not signed by a CA this client trusts \(unable to verify the first certificate\): give the CA that signed it with --tls-ca$/,
      ],
      [
        "801C:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/x.c:1601:SSL alert number 116\n (2026-01-01T00:00:00.000Z)",
        "TLS_HANDSHAKE_FAILED",
        /requires a client certificate: give --tls-cert and --tls-key/,
      ],
      [
        "Error: 80AC:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/y.c:350:\n",
        "TLS_HANDSHAKE_FAILED",
        /does not speak TLS on this port/,
      ],
      ["Failed to connect (2026-01-01T00:00:00.000Z)", "GRPC_UNAVAILABLE", /if it serves TLS, give --tls-ca/],
      [
        "Error: connect ECONNREFUSED 127.0.0.1:1",
        "GRPC_UNAVAILABLE",
        /^cannot connect: connect ECONNREFUSED 127\.0\.0\.1:1$/,
      ],
    ];
    for (const [last, code, message] of cases) {
      const err = fromGrpcError(unreached(last));
      expect([err.code, err.retryable], last).toEqual([code, true]);
      expect(err.message, last).toMatch(message);
      expect(err.message).not.toMatch(/deps\/openssl|Resolution note/);
    }
  });
});
