/**
 * TLS files checked when they are read, before a server binds or a client dials: each file must
 * hold what its option says (a PEM certificate, a private key, a CA bundle), and the key must be
 * the certificate's. A mismatch otherwise shows only as OpenSSL's "key values mismatch" at bind
 * time, or as every handshake failing.
 */
import { createSecureContext } from "node:tls";
import { TlsConfigError } from "./errors.ts";

export interface TlsFiles {
  /** the PEM certificate chain read from `path` */
  cert: { path: string; bytes: Buffer } | null;
  key: { path: string; bytes: Buffer } | null;
  ca: { path: string; bytes: Buffer } | null;
}

const reason = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).replace(/^error:[0-9A-F]+:/, "");

/** The option each file came from, and the cna flag that sets it (both named in the messages). */
const FIELDS = {
  cert: { field: "tls.certPath", flag: "--tls-cert", kind: "certificate" },
  key: { field: "tls.keyPath", flag: "--tls-key", kind: "private key" },
  ca: { field: "tls.caPath", flag: "--tls-ca", kind: "CA certificate bundle" },
} as const;

/** Throws TLS_INVALID naming the file at fault and its flag. */
export function checkTlsFiles(files: TlsFiles): void {
  for (const what of ["ca", "cert", "key"] as const) {
    const f = files[what];
    if (!f) continue;
    const { field, flag, kind } = FIELDS[what];
    try {
      createSecureContext({ [what]: f.bytes });
    } catch (err) {
      throw new TlsConfigError(field, `${f.path} (${flag}) does not hold a PEM ${kind}: ${reason(err)}`, err);
    }
  }
  if (!files.cert || !files.key) return;
  try {
    createSecureContext({ cert: files.cert.bytes, key: files.key.bytes });
  } catch (err) {
    throw new TlsConfigError(
      FIELDS.key.field,
      `the private key ${files.key.path} (${FIELDS.key.flag}) does not belong to the certificate ${files.cert.path} (${FIELDS.cert.flag}): ${reason(err)}`,
      err,
    );
  }
}
