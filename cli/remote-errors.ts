/**
 * Failed calls to a coordinator or worker, said the way a person fixes them. grpc-js reports an
 * address nobody listens on, a TLS mismatch or a refused token as a gRPC status with transport
 * details ("No connection established. Last error: ... Resolution note:"); here each becomes a
 * RemoteCallError naming the address and the flag or variable to check. An error the server
 * answered with one of the project's codes (SWEEP_NOT_FOUND, BAD_SPEC, ...) is kept as it is:
 * its message already says what is wrong.
 */
import { status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { fromGrpcError, GrpcCallError } from "../proto/index.ts";
import { RemoteCallError } from "./errors.ts";
import type { Peer } from "./target.ts";

/** What to set to change the address, per kind of peer. */
const HINT: Record<Peer["kind"], { running: string; address: string }> = {
  coordinator: { running: "is `cna coordinator` running?", address: "set --coordinator or CNA_COORDINATOR" },
  worker: { running: "is `cna worker --listen` running there?", address: "set --worker" },
};

const TLS_DETAIL = /SSL routines|certificate|handshake|TLS|wrong version number|packet length too long/i;

/** The error a remote command reports for a failed call to `peer`. */
export function readableRemoteError(err: ServiceError | GrpcCallError, peer: Peer): GrpcCallError | RemoteCallError {
  const e = err instanceof GrpcCallError ? err : fromGrpcError(err);
  const who = `the ${peer.kind} at ${peer.address}${peer.source.startsWith("context ") || peer.source.startsWith("$") ? `, from ${peer.source}` : ""}`;
  // a code the server chose says what is wrong already (UNAUTHENTICATED is ours and the server's both)
  // proto/errors.ts already named a failed TLS handshake and which side to fix: say with whom
  if (e.code === "TLS_HANDSHAKE_FAILED")
    return new RemoteCallError(
      "TLS_HANDSHAKE_FAILED",
      peer.address,
      `TLS with ${who} failed: ${e.message.replace(/^cannot connect: /, "")}`,
      false,
      e,
    );
  const fromServer = !e.code.startsWith("GRPC_") && e.code !== "UNAUTHENTICATED";
  if (fromServer) return e;
  // without what proto/errors.ts put around it, which this message says in its own way
  const detail = lastError(e.message)
    .replace(/^cannot connect: /, "")
    .replace(/ \(if it serves TLS, give --tls-ca\)$/, "");
  switch (e.grpcStatus) {
    case status.UNAVAILABLE:
      // (proto/errors.ts may have added its own "if it serves TLS" hint, which is no TLS failure)
      if (TLS_DETAIL.test(e.message.replace(/\(if it serves TLS, give --tls-ca\)/, "")))
        return new RemoteCallError(
          "TLS_HANDSHAKE_FAILED",
          peer.address,
          `TLS with ${who} failed (${detail}): give the CA that signed its certificate with --tls-ca, or leave out the TLS flags if it serves plaintext`,
          false,
          e,
        );
      return new RemoteCallError(
        "UNREACHABLE",
        peer.address,
        `cannot reach ${who} (${HINT[peer.kind].running} ${HINT[peer.kind].address}${/ECONNREFUSED|Name resolution/.test(e.message) ? "" : "; if it serves TLS, give --tls-ca"}): ${detail}`,
        true,
        e,
      );
    case status.UNAUTHENTICATED:
      return new RemoteCallError(
        "UNAUTHENTICATED",
        peer.address,
        `${who} refused the call: ${e.message} (give its token with --token-file, CNA_TOKEN_FILE or the context's token-file)`,
        false,
        e,
      );
    case status.PERMISSION_DENIED:
      return new RemoteCallError("PERMISSION_DENIED", peer.address, `${who} denied the call: ${e.message}`, false, e);
    case status.DEADLINE_EXCEEDED:
      return new RemoteCallError(
        "DEADLINE_EXCEEDED",
        peer.address,
        `${who} did not answer in time (it may be overloaded, or the network slow); try again`,
        true,
        e,
      );
    default:
      return e;
  }
}

/** The reason inside grpc-js's "No connection established. Last error: ... Resolution note: " text. */
function lastError(details: string): string {
  const m = /Last error: (?:Error: )?([\s\S]*?)\.?\s*(?:Resolution note:.*)?$/.exec(details);
  const text = (m ? m[1]! : details).trim();
  const ssl = /:SSL routines:[^:]*:([^:]+):/.exec(text);
  if (ssl) return ssl[1]!;
  if (/ECONNREFUSED/.test(text)) return "connection refused";
  if (/^Name resolution failed/.test(text)) return "no such host";
  return text.replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/, "");
}

/** A unary call to `peer`, failing with {@link readableRemoteError}. */
export function callPeer<Req, Res>(
  peer: Peer,
  fn: (req: Req, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, (err, res) => (err ? reject(readableRemoteError(err, peer)) : resolve(res)));
  });
}
