/**
 * coordinator/grpc — SweepService served over gRPC. The coordinator implements
 * {@link SweepBackend}; {@link startSweepServer} puts it on the wire with health, reflection,
 * optional TLS and a bearer token. Wire types stop at convert.ts.
 *
 * @example
 * ```ts
 * import { startSweepServer } from "./grpc/index.ts";
 *
 * const server = await startSweepServer({ backend, host: "0.0.0.0", port: 7070, token: process.env.CNA_TOKEN });
 * // ... later
 * await server.close();
 * ```
 */
export { DEFAULT_MAX_RESULT_BYTES, startSweepServer } from "./server.ts";
export { MAX_RESULT_BYTES_FLAG } from "./upload.ts";
export type { SweepServer, SweepServerOptions } from "./server.ts";
