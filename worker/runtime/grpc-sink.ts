/**
 * The distributed ResultSink: streams each shard's result to the coordinator's ReportShard
 * (a header with the size and SHA-256, then 1 MiB data chunks, respecting backpressure) and
 * resolves once the coordinator stored it — only then may the worker ack the shard.
 *
 * Small results are batched, Nagle-style: while one report call is in flight, the results
 * reported meanwhile wait, and go together in the next call (ReportShards: one header and its
 * data per shard), up to `batchShards` shards and `chunkBytes` bytes. A lone result goes at once,
 * so batching adds no wait when the coordinator keeps up; when it does not, one call carries
 * many shards and the per-call costs (a stream, its frames, a socket write each side) are shared.
 * Each shard's report still resolves only once the coordinator stored it. A batch refused
 * terminally is reported again shard by shard (ReportShard), so each shard learns its own
 * outcome; a coordinator without ReportShards (UNIMPLEMENTED) gets single reports from then on.
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
import type { ClientWritableStream, ServiceError } from "@grpc/grpc-js";
import { CnaError, SpecError, describeValue, errorInfo } from "../../core/index.ts";
import type { ResultSink, ShardFailure, ShardReport } from "../../core/index.ts";
import { ReportOutcome, createSweepClient, fromGrpcError } from "../../proto/index.ts";
import type {
  ReportShardResponse,
  ReportShardsResponse,
  ShardResultChunk,
  SweepServiceClient,
  TlsClientOptions,
} from "../../proto/index.ts";

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
  /** most shards in one ReportShards call (default 64; 1: every shard its own ReportShard) */
  batchShards?: number;
}

interface ResolvedSinkOptions {
  address: string;
  chunkBytes: number;
  timeoutMs: number;
  batchShards: number;
}

/** A report waiting for the next batch. */
interface Waiting {
  report: ShardReport;
  resolve: (outcome: ReportedOutcome) => void;
  reject: (err: unknown) => void;
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
  const batchShards = o.batchShards ?? 64;
  if (!Number.isInteger(batchShards) || batchShards < 1 || batchShards > 1024)
    throw new SpecError(
      "batchShards",
      `batchShards must be an integer from 1 to 1024, got ${describeValue(o.batchShards)}`,
    );
  return { address: o.address, chunkBytes, timeoutMs, batchShards };
}

export class GrpcResultSink implements ResultSink, AsyncDisposable {
  private readonly o: ResolvedSinkOptions;
  private readonly client: SweepServiceClient;
  private readonly waiting: Waiting[] = [];
  private sending = false;
  /** the coordinator answered ReportShards UNIMPLEMENTED (it predates it) */
  private noBatches = false;

  constructor(options: GrpcResultSinkOptions) {
    this.o = resolveSinkOptions(options);
    this.client = createSweepClient(this.o.address, { token: options.token, tls: options.tls });
  }

  async report(r: ShardReport): Promise<void> {
    if (this.o.batchShards === 1 || this.noBatches || r.result.byteLength > this.o.chunkBytes) {
      await this.reportShard(r);
      return;
    }
    await new Promise<ReportedOutcome>((resolve, reject) => {
      this.waiting.push({ report: r, resolve, reject });
      this.sendWaiting();
    });
  }

  /** Sends what waits, as one call, unless a call is in flight (its end sends what waits then). */
  private sendWaiting(): void {
    if (this.sending || this.waiting.length === 0) return;
    let bytes = this.waiting[0]!.report.result.byteLength;
    let n = 1;
    while (n < this.waiting.length && n < this.o.batchShards) {
      bytes += this.waiting[n]!.report.result.byteLength;
      if (bytes > this.o.chunkBytes) break;
      n++;
    }
    const batch = this.waiting.splice(0, n);
    this.sending = true;
    void this.sendBatch(batch).finally(() => {
      this.sending = false;
      this.sendWaiting();
    });
  }

  private async sendBatch(batch: Waiting[]): Promise<void> {
    if (batch.length > 1 && !this.noBatches) {
      try {
        const outcomes = await this.reportShards(batch.map((w) => w.report));
        batch.forEach((w, i) => w.resolve(outcomes[i]!));
        return;
      } catch (err) {
        const info = errorInfo(err);
        // grpc-js's own answer for a method the server does not have (no cna code with it)
        if (info.code === "GRPC_UNIMPLEMENTED") this.noBatches = true;
        else if (info.retryable) {
          for (const w of batch) w.reject(err);
          return;
        }
        // refused (one shard's header or result, or the batch's size): each shard on its own says which
      }
    }
    await Promise.all(batch.map((w) => this.reportShard(w.report).then(w.resolve, w.reject)));
  }

  /** Streams one result; resolves with what the coordinator did with it. */
  reportShard(r: ShardReport): Promise<ReportedOutcome> {
    return this.upload<ReportShardResponse>([r], "ReportShard", (callback) =>
      this.client.reportShard(this.deadline(), callback),
    ).then((res) => this.outcomeOf("ReportShard", res.outcome));
  }

  /** Streams several results in one call; resolves with what the coordinator did with each, in order. */
  async reportShards(rs: ShardReport[]): Promise<ReportedOutcome[]> {
    const res = await this.upload<ReportShardsResponse>(rs, "ReportShards", (callback) =>
      this.client.reportShards(this.deadline(), callback),
    );
    if (res.outcomes.length !== rs.length)
      throw new CnaError(
        `the coordinator answered ReportShards with ${res.outcomes.length} outcomes for ${rs.length} shards`,
        { code: "BAD_RESPONSE", retryable: false },
      );
    return res.outcomes.map((o) => this.outcomeOf("ReportShards", o));
  }

  private deadline(): { deadline: number } {
    return { deadline: Date.now() + this.o.timeoutMs };
  }

  private outcomeOf(rpc: string, o: ReportOutcome): ReportedOutcome {
    const outcome = OUTCOMES[o];
    if (outcome === undefined)
      throw new CnaError(`the coordinator answered ${rpc} with unknown outcome ${o}`, {
        code: "BAD_RESPONSE",
        retryable: false,
      });
    return outcome;
  }

  /** One client stream carrying `rs` (header and data chunks each); resolves with the reply. */
  private upload<Reply>(
    rs: ShardReport[],
    rpc: string,
    open: (callback: (err: ServiceError | null, res?: Reply) => void) => ClientWritableStream<ShardResultChunk>,
  ): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      let settled = false;
      let wake: () => void = () => undefined;
      const call = open((err, res) => {
        settled = true;
        wake();
        if (err) return reject(fromGrpcError(err, SERVER_CUT));
        if (res === undefined)
          return reject(
            new CnaError(`the coordinator answered ${rpc} with nothing`, { code: "BAD_RESPONSE", retryable: false }),
          );
        resolve(res);
      });
      // the callback carries the call's error; without a listener a stream error would be thrown
      call.on("error", () => undefined);
      const waitDrain = (): Promise<void> =>
        new Promise<void>((res) => {
          wake = res;
          call.once("drain", res);
        });
      void this.writeChunks(call, rs, () => settled, waitDrain);
    });
  }

  private async writeChunks(
    call: ClientWritableStream<ShardResultChunk>,
    rs: ShardReport[],
    settled: () => boolean,
    waitDrain: () => Promise<void>,
  ): Promise<void> {
    const chunkBytes = this.o.chunkBytes;
    const messages = function* (): Generator<ShardResultChunk> {
      for (const r of rs) {
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
        yield { chunk: { $case: "header", header } };
        for (let at = 0; at < bytes.length; at += chunkBytes)
          yield { chunk: { $case: "data", data: bytes.subarray(at, at + chunkBytes) } };
      }
    };
    for (const m of messages()) {
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
