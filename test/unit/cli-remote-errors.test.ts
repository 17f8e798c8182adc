/**
 * Failed gRPC calls as the remote commands report them (cli/remote-errors.ts): the transport
 * failures grpc-js reports (the details below are grpc-js's own text) become errors that name
 * the address and what to set, under stable codes; a code the server chose is kept as it is.
 */
import { Metadata, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { readableRemoteError } from "../../cli/remote-errors.ts";
import type { Peer } from "../../cli/target.ts";

const coordinator: Peer = { kind: "coordinator", address: "127.0.0.1:7070", source: "default" };
const worker: Peer = { kind: "worker", address: "10.0.0.9:7071", source: "--worker" };

function grpcError(code: status, details: string, cnaCode?: string): ServiceError {
  const metadata = new Metadata();
  if (cnaCode) metadata.set("cna-error-code", cnaCode);
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata });
}

describe("readable remote errors", () => {
  it("an address nobody listens on is UNREACHABLE, with the command to run and the flag to set", () => {
    const err = readableRemoteError(
      grpcError(
        status.UNAVAILABLE,
        "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:7070. Resolution note: ",
      ),
      coordinator,
    );
    expect(err).toMatchObject({
      code: "UNREACHABLE",
      retryable: true,
      message:
        "cannot reach the coordinator at 127.0.0.1:7070 (is `cna coordinator` running? set --coordinator or CNA_COORDINATOR): connection refused",
    });
    expect(
      readableRemoteError(grpcError(status.UNAVAILABLE, "Name resolution failed for target dns:nohost:1"), worker)
        .message,
    ).toBe(
      "cannot reach the worker at 10.0.0.9:7071 (is `cna worker --listen` running there? set --worker): no such host",
    );
    // plaintext to a TLS server fails without a reason: the hint names --tls-ca
    expect(
      readableRemoteError(
        grpcError(
          status.UNAVAILABLE,
          "No connection established. Last error: Failed to connect (2026-12-04T08:04:23.971Z). Resolution note: ",
        ),
        { ...coordinator, source: "context lab" },
      ).message,
    ).toBe(
      "cannot reach the coordinator at 127.0.0.1:7070, from context lab (is `cna coordinator` running? set --coordinator or CNA_COORDINATOR; if it serves TLS, give --tls-ca): the server closed the connection while it was being set up",
    );
  });

  it("a TLS failure is TLS_HANDSHAKE_FAILED, with the peer, the reason and the flag", () => {
    const wrongVersion = readableRemoteError(
      grpcError(
        status.UNAVAILABLE,
        "No connection established. Last error: Error: 80EC81B2C67F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n. Resolution note: ",
      ),
      coordinator,
    );
    expect(wrongVersion).toMatchObject({ code: "TLS_HANDSHAKE_FAILED", retryable: false });
    expect(wrongVersion.message).toBe(
      "TLS with the coordinator at 127.0.0.1:7070 failed: the server does not speak TLS on this port: leave out --tls-ca, --tls-cert and --tls-key, or use its TLS port",
    );
    expect(
      readableRemoteError(
        grpcError(
          status.UNAVAILABLE,
          "No connection established. Last error: Error: self-signed certificate. Resolution note: ",
        ),
        coordinator,
      ).message,
    ).toMatch(
      /^TLS with the coordinator at 127\.0\.0\.1:7070 failed: the server's certificate is not signed by a CA this client trusts \(self-signed certificate\): /,
    );
  });

  it("a refused token, a denied call and a deadline say which and what to do", () => {
    expect(
      readableRemoteError(
        grpcError(status.UNAUTHENTICATED, "the bearer token is not valid", "UNAUTHENTICATED"),
        coordinator,
      ),
    ).toMatchObject({
      code: "UNAUTHENTICATED",
      message:
        "the coordinator at 127.0.0.1:7070 refused the call: the bearer token is not valid (give its token with --token-file, CNA_TOKEN_FILE or the context's token-file)",
    });
    expect(
      readableRemoteError(grpcError(status.PERMISSION_DENIED, "client certificate required"), coordinator),
    ).toMatchObject({
      code: "PERMISSION_DENIED",
      message: "the coordinator at 127.0.0.1:7070 denied the call: client certificate required",
    });
    expect(
      readableRemoteError(grpcError(status.DEADLINE_EXCEEDED, "Deadline exceeded after 5s"), worker),
    ).toMatchObject({
      code: "DEADLINE_EXCEEDED",
      retryable: true,
      message: expect.stringMatching(/^the worker at 10\.0\.0\.9:7071 did not answer in time/),
    });
  });

  it("keeps a code the server chose, and its message", () => {
    const err = readableRemoteError(
      grpcError(status.NOT_FOUND, 'no sweep with id "x"', "SWEEP_NOT_FOUND"),
      coordinator,
    );
    expect(err).toMatchObject({ code: "SWEEP_NOT_FOUND", message: 'no sweep with id "x"' });
    expect(
      readableRemoteError(
        grpcError(status.PERMISSION_DENIED, "models[0].path is outside", "MODEL_PATH_OUTSIDE_ROOTS"),
        coordinator,
      ),
    ).toMatchObject({ code: "MODEL_PATH_OUTSIDE_ROOTS" });
  });
});
