/**
 * The distributed ResultSink: streams each shard's result to the coordinator's ReportShard
 * (a header with the size and SHA-256, then 1 MiB data chunks, respecting backpressure) and
 * resolves once the coordinator stored it — only then may the worker ack the shard.
 *
 * Failures come back as CnaErrors classed for the consumer: UNAVAILABLE and DEADLINE_EXCEEDED
 * (the coordinator away, restarting or slow; a retryable store error) are retryable, so the
 * shard is nak'ed and comes back; so is CANCELLED, which this sink never causes itself — it is
 * the coordinator cutting calls as it shuts down (reporting again is safe: results are deduplicated
 * by shard id). Anything else is terminal.
 *
 * @example
 * ```ts
 * await using sink = new GrpcResultSink({ address: "coordinator:7070", token });
 * const worker = new ShardWorker(queue, sink, models, { id: "w1" });
 * ```
 */
import { createHash } from "node:crypto";
import { Metadata, status } from "@grpc/grpc-js";
import type { ClientWritableStream } from "@grpc/grpc-js";
import { CnaError, SpecError, describeValue } from "../../core/index.ts";
import type { ResultSink, ShardFailure, ShardReport } from "../../core/index.ts";
import { ReportOutcome, createSweepClient, fromGrpcError } from "../../proto/index.ts";
import type { ShardResultChunk, SweepServiceClient, TlsClientOptions } from "../../proto/index.ts";

export interface GrpcResultSinkOptions {
  /** the coordinator's SweepService, host:port */
  address: string;
  /** sent as `authorization: Bearer <token>` */
  token?: string;
  tls?: TlsClientOptions;
  /** bytes per data chunk (default 1 MiB; at most 3 MiB, under gRPC's 4 MiB message limit) */
  chunkBytes?: number;
  /** deadline of one report, all chunks included (default 120 000) */
  timeoutMs?: number;
}

interface ResolvedSinkOptions {
  address: string;
  chunkBytes: number;
  timeoutMs: number;
}

/** What the coordinator did with a reported result. */
export type ReportedOutcome = "stored" | "duplicate" | "duplicate-mismatch" | "discarded";

const OUTCOMES: Partial<Record<ReportOutcome, ReportedOutcome>> = {
  [ReportOutcome.REPORT_OUTCOME_STORED]: "stored",
  [ReportOutcome.REPORT_OUTCOME_DUPLICATE]: "duplicate",
  [ReportOutcome.REPORT_OUTCOME_DUPLICATE_MISMATCH]: "duplicate-mismatch",
  [ReportOutcome.REPORT_OUTCOME_DISCARDED]: "discarded",
};

const MIB = 1024 * 1024;

/** Statuses retryable here beyond proto's defaults: this sink never cancels its own calls. */
const SERVER_CUT: readonly status[] = [status.CANCELLED];

function resolveSinkOptions(o: GrpcResultSinkOptions): ResolvedSinkOptions {
  const chunkBytes = o.chunkBytes ?? MIB;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > 3 * MIB)
    throw new SpecError(
      "chunkBytes",
      `chunkBytes must be an integer from 1 to ${3 * MIB}, got ${describeValue(o.chunkBytes)}`,
    );
  const timeoutMs = o.timeoutMs ?? 120_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
    throw new SpecError("timeoutMs", `timeoutMs must be a positive integer, got ${describeValue(o.timeoutMs)}`);
  return { address: o.address, chunkBytes, timeoutMs };
}

export class GrpcResultSink implements ResultSink, AsyncDisposable {
  private readonly o: ResolvedSinkOptions;
  private readonly client: SweepServiceClient;

  constructor(options: GrpcResultSinkOptions) {
    this.o = resolveSinkOptions(options);
    this.client = createSweepClient(this.o.address, { token: options.token, tls: options.tls });
  }

  async report(r: ShardReport): Promise<void> {
    await this.reportShard(r);
  }

  /** Streams one result; resolves with what the coordinator did with it. */
  reportShard(r: ShardReport): Promise<ReportedOutcome> {
    return new Promise<ReportedOutcome>((resolve, reject) => {
      let settled = false;
      let wake: () => void = () => undefined;
      const call = this.client.reportShard({ deadline: Date.now() + this.o.timeoutMs }, (err, res) => {
        settled = true;
        wake();
        if (err) return reject(fromGrpcError(err, SERVER_CUT));
        const outcome = OUTCOMES[res.outcome];
        if (outcome === undefined)
          return reject(
            new CnaError(`the coordinator answered ReportShard with unknown outcome ${res.outcome}`, {
              code: "BAD_RESPONSE",
              retryable: false,
            }),
          );
        resolve(outcome);
      });
      // the callback carries the call's error; without a listener a stream error would be thrown
      call.on("error", () => undefined);
      const waitDrain = (): Promise<void> =>
        new Promise<void>((res) => {
          wake = res;
          call.once("drain", res);
        });
      void this.writeChunks(call, r, () => settled, waitDrain);
    });
  }

  private async writeChunks(
    call: ClientWritableStream<ShardResultChunk>,
    r: ShardReport,
    settled: () => boolean,
    waitDrain: () => Promise<void>,
  ): Promise<void> {
    const bytes = Buffer.from(r.result.buffer, r.result.byteOffset, r.result.byteLength);
    const header = {
      sweepId: r.sweepId,
      shardId: r.shardId,
      worker: r.worker,
      attempt: r.attempt,
      totalBytes: bytes.length,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      ...(r.runMs !== undefined ? { runMs: Math.round(r.runMs) } : {}),
    };
    const messages = function* (chunkBytes: number): Generator<ShardResultChunk> {
      yield { chunk: { $case: "header", header } };
      for (let at = 0; at < bytes.length; at += chunkBytes)
        yield { chunk: { $case: "data", data: bytes.subarray(at, at + chunkBytes) } };
    };
    for (const m of messages(this.o.chunkBytes)) {
      if (settled()) return; // the coordinator already answered (a refusal): stop sending
      if (!call.write(m)) await waitDrain();
    }
    if (!settled()) call.end();
  }

  async fail(f: ShardFailure): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.client.reportFailure(
        {
          sweepId: f.sweepId,
          shardId: f.shardId,
          worker: f.worker,
          attempt: f.attempt,
          code: f.code,
          message: f.message,
          retryable: f.retryable,
        },
        new Metadata(),
        { deadline: Date.now() + this.o.timeoutMs },
        (err) => (err ? reject(fromGrpcError(err, SERVER_CUT)) : resolve()),
      );
    });
  }

  /**
   * The coordinator's shard namespace (null: its shards do not go through NATS). Fails like a
   * report: UNAVAILABLE (not up yet) is retryable.
   */
  describeCoordinator(): Promise<{ namespace: string | null }> {
    return new Promise((resolve, reject) => {
      this.client.describeCoordinator({}, new Metadata(), { deadline: Date.now() + this.o.timeoutMs }, (err, res) =>
        err
          ? reject(fromGrpcError(err, SERVER_CUT))
          : resolve({ namespace: res.namespace === "" ? null : res.namespace }),
      );
    });
  }

  /**
   * Whether the coordinator runs the sweep: false when it answers SWEEP_NOT_FOUND. A worker asks
   * before it runs a shard, so a shard that reached it by mistake (a sweep its coordinator does
   * not know) is handed back at once instead of computed and refused.
   */
  knows(sweepId: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.client.getSweep({ id: sweepId }, new Metadata(), { deadline: Date.now() + this.o.timeoutMs }, (err) => {
        if (!err) return resolve(true);
        const e = fromGrpcError(err, SERVER_CUT);
        if (e.code === "SWEEP_NOT_FOUND") resolve(false);
        else reject(e);
      });
    });
  }

  close(): void {
    this.client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
