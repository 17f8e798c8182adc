/**
 * SweepService over gRPC: the coordinator's API for the CLI and the workers' ReportShard,
 * ReportShards and ReportFailure, plus grpc.health.v1 and server reflection (proto/server.ts).
 *
 * Every handler validates its request here (errors name the proto field), calls the backend
 * with domain values, and replies exactly once. With a token, calls without
 * `authorization: Bearer <token>` end with UNAUTHENTICATED before the backend is touched
 * (health stays open for probes).
 *
 * @example
 * ```ts
 * await using server = await startSweepServer({ backend, port: 7070, token });
 * console.log(`SweepService on ${server.address}`);
 * ```
 */
import type { ServerReadableStream, ServerWritableStream, StatusObject, sendUnaryData } from "@grpc/grpc-js";
import { CnaError, SpecError, describeValue } from "../../core/index.ts";
import {
  BadRequestError,
  SweepServiceService,
  resolveGrpcServeOptions,
  serveGrpc,
  toGrpcStatus,
  unaryHandler,
} from "../../proto/index.ts";
import type {
  GrpcServeOptions,
  GrpcServerHandle,
  ShardResultChunk,
  SweepServiceServer,
  SweepUpdate,
  WatchSweepRequest,
} from "../../proto/index.ts";
import { TERMINAL_STATES } from "../backend.ts";
import type { SweepBackend } from "../backend.ts";
import { fromShardFailureMessage, requireText, toOutcomeMessage, toSweepMessage } from "./convert.ts";
import { ShardBatchUpload, ShardUpload } from "./upload.ts";

export interface SweepServerOptions extends GrpcServeOptions {
  backend: SweepBackend;
  /** largest shard result ReportShard accepts, all chunks together (default DEFAULT_MAX_RESULT_BYTES, 256 MiB) */
  maxResultBytes?: number;
  /** the namespace of the JetStream stream the shards go to, told to workers by DescribeCoordinator (default none: not through NATS) */
  namespace?: string | null;
}

/** A running SweepService; `close()` (or `await using`) stops it. */
export type SweepServer = GrpcServerHandle;

export const DEFAULT_MAX_RESULT_BYTES = 256 * 1024 * 1024;

export async function startSweepServer(options: SweepServerOptions): Promise<SweepServer> {
  const { backend, maxResultBytes: rawMax, namespace, ...serve } = options;
  const maxResultBytes = rawMax ?? DEFAULT_MAX_RESULT_BYTES;
  if (!Number.isInteger(maxResultBytes) || maxResultBytes < 1)
    throw new SpecError("maxResultBytes", `maxResultBytes must be a positive integer, got ${describeValue(rawMax)}`);
  const resolved = resolveGrpcServeOptions(serve);
  const watches = new Set<(status: StatusObject) => void>();
  return serveGrpc(resolved, [
    {
      name: "cna.v1.SweepService",
      protoFile: "cna/v1/sweep.proto",
      definition: SweepServiceService,
      implementation: sweepService(backend, maxResultBytes, namespace ?? null, watches),
      onClose: () => {
        const shuttingDown = toGrpcStatus(
          new CnaError("the coordinator is shutting down; watch again", { code: "SHUTTING_DOWN", retryable: true }),
        );
        for (const end of [...watches]) end(shuttingDown);
      },
    },
  ]);
}

function sweepService(
  backend: SweepBackend,
  maxResultBytes: number,
  namespace: string | null,
  watches: Set<(status: StatusObject) => void>,
): SweepServiceServer {
  return {
    submitSweep: unaryHandler(async (req) => {
      requireText("sweep_yaml", req.sweepYaml);
      const submitted = await backend.submit(
        req.sweepYaml,
        req.sourceName.trim() === "" ? "<SubmitSweep>" : req.sourceName,
        { fresh: req.fresh },
      );
      return { ...toSweepMessage(submitted), existing: submitted.existing === true };
    }),
    getSweep: unaryHandler((req) => toSweepMessage(backend.get(requireText("id", req.id)))),
    listSweeps: unaryHandler(() => ({ sweeps: backend.list().map(toSweepMessage) })),
    cancelSweep: unaryHandler(async (req) => toSweepMessage(await backend.cancel(requireText("id", req.id)))),
    rerunSweep: unaryHandler(async (req) => {
      const id = requireText("id", req.id);
      if (!req.failedOnly) throw new BadRequestError("failed_only", "must be true (only quarantined shards are rerun)");
      return toSweepMessage(await backend.rerun(id));
    }),
    getRankings: unaryHandler(async (req) => {
      const r = await backend.rankings(requireText("id", req.id));
      return { json: r.json, final: r.final };
    }),
    reportFailure: unaryHandler(async (req) => {
      await backend.reportFailure(fromShardFailureMessage(req));
      return {};
    }),
    describeCoordinator: unaryHandler(() => ({ namespace: namespace ?? "" })),
    watchSweep: (call) => watchSweep(backend, call, watches),
    reportShard: (call, callback) => {
      const upload = new ShardUpload(maxResultBytes);
      receiveUpload(
        call,
        upload,
        async () => ({ outcome: toOutcomeMessage(await backend.reportShard(upload.finish())) }),
        callback,
      );
    },
    reportShards: (call, callback) => {
      const batch = new ShardBatchUpload(maxResultBytes);
      receiveUpload(
        call,
        batch,
        async () => {
          // stored concurrently: the store's writer groups their fsyncs
          const outcomes = await Promise.all(batch.finish().map((r) => backend.reportShard(r)));
          return { outcomes: outcomes.map(toOutcomeMessage) };
        },
        callback,
      );
    },
  };
}

/**
 * Feeds a client stream's chunks to `upload` and, once the client half-closed, runs `store`.
 * Replies once: with store's reply, or the first failure's status; never when the client went
 * away mid-stream (it cannot be answered; what it sent is dropped).
 */
function receiveUpload<Reply>(
  call: ServerReadableStream<ShardResultChunk, Reply>,
  upload: { accept(chunk: ShardResultChunk): void },
  store: () => Promise<Reply>,
  callback: sendUnaryData<Reply>,
): void {
  let replied = false;
  const fail = (err: unknown): void => {
    if (replied) return;
    replied = true;
    callback(toGrpcStatus(err));
  };
  call.on("data", (chunk: ShardResultChunk) => {
    if (replied) return;
    try {
      upload.accept(chunk);
    } catch (err) {
      fail(err);
    }
  });
  call.on("end", () => {
    if (replied) return;
    // store() is async: a refused upload (finish() throws) rejects it like a failed store
    store().then((reply) => {
      if (replied) return;
      replied = true;
      callback(null, reply);
    }, fail);
  });
  call.on("cancelled", () => {
    replied = true;
  });
}

/** Snapshots until a terminal one; ends early when the client cancels or the server closes. */
function watchSweep(
  backend: SweepBackend,
  call: ServerWritableStream<WatchSweepRequest, SweepUpdate>,
  watches: Set<(status: StatusObject) => void>,
): void {
  let ended = false;
  let unsubscribe: (() => void) | null = null;
  const stop = (): void => {
    ended = true;
    watches.delete(endWith);
    unsubscribe?.();
    unsubscribe = null;
  };
  function endWith(status: StatusObject | null): void {
    if (ended) return;
    stop();
    if (status === null) call.end();
    else call.emit("error", status);
  }
  watches.add(endWith);
  call.on("cancelled", stop);
  try {
    const id = requireText("id", call.request.id);
    const unsub = backend.watch(id, (view) => {
      if (ended) return;
      call.write({ sweep: toSweepMessage(view) });
      if (TERMINAL_STATES.has(view.state)) endWith(null);
    });
    // the first snapshot comes synchronously and may already have ended the stream
    if (ended) unsub();
    else unsubscribe = unsub;
  } catch (err) {
    endWith(toGrpcStatus(err));
  }
}
