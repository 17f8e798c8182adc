/**
 * One ReportShard stream, checked as it arrives: exactly one header first, then data chunks
 * whose sizes add up to `header.total_bytes` and whose SHA-256 is `header.sha256`. Every
 * violation throws a BadRequestError naming the field, as soon as it can be seen, so a stream
 * sending more than it declared is refused before it is held in memory; one declaring more than
 * the limit gets a LimitExceededError naming the flag that raises it.
 */
import { createHash } from "node:crypto";
import type { Hash } from "node:crypto";
import { LimitExceededError } from "../../core/index.ts";
import type { ShardReport } from "../../core/index.ts";
import { BadRequestError, UndecodableMessage } from "../../proto/index.ts";
import type { ShardResultChunk, ShardResultHeader } from "../../proto/index.ts";
import { requireAttempt, requireText } from "./convert.ts";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The `cna coordinator` flag that sets the largest shard result a ReportShard may declare. */
export const MAX_RESULT_BYTES_FLAG = "--max-result-bytes";

export class ShardUpload {
  /** the header once accepted: its shard's declared size and id */
  header: ShardResultHeader | null = null;
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private readonly hash: Hash = createHash("sha256");

  constructor(private readonly maxResultBytes: number) {}

  accept(chunk: ShardResultChunk | UndecodableMessage): void {
    if (chunk instanceof UndecodableMessage) throw chunk.toError();
    const c = chunk.chunk;
    if (c === undefined) throw new BadRequestError("chunk", "a ShardResultChunk must set header or data");
    if (c.$case === "header") {
      if (this.header !== null)
        throw new BadRequestError("header", "only one header chunk is allowed, and it comes first");
      this.header = this.checkHeader(c.header);
      return;
    }
    if (this.header === null)
      throw new BadRequestError("header", "the first chunk must be the header; a data chunk came before it");
    this.received += c.data.length;
    if (this.received > this.header.totalBytes) {
      throw new BadRequestError("data", `more bytes than header.total_bytes (${this.header.totalBytes}) declared`);
    }
    this.chunks.push(c.data);
    this.hash.update(c.data);
  }

  /** The complete report, once the client half-closed. */
  finish(): ShardReport {
    const h = this.header;
    if (h === null) throw new BadRequestError("header", "the stream ended without a header chunk");
    if (this.received !== h.totalBytes)
      throw new BadRequestError("header.total_bytes", `declared ${h.totalBytes} bytes, received ${this.received}`);
    const digest = this.hash.digest("hex");
    if (digest !== h.sha256)
      throw new BadRequestError("header.sha256", `does not match the data received (sha256 ${digest})`);
    const result = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.received);
    const report: ShardReport = {
      sweepId: h.sweepId,
      shardId: h.shardId,
      worker: h.worker,
      attempt: h.attempt,
      result: new Uint8Array(result.buffer, result.byteOffset, result.byteLength),
    };
    if (h.runMs !== undefined) report.runMs = h.runMs;
    return report;
  }

  private checkHeader(h: ShardResultHeader): ShardResultHeader {
    requireText("header.sweep_id", h.sweepId);
    requireText("header.shard_id", h.shardId);
    requireText("header.worker", h.worker);
    requireAttempt("header.attempt", h.attempt);
    if (h.totalBytes > this.maxResultBytes) {
      throw new LimitExceededError(
        "maxResultBytes",
        `header.total_bytes: ${h.totalBytes} bytes is over the limit of ${this.maxResultBytes} bytes per shard result (${MAX_RESULT_BYTES_FLAG} raises it)`,
      );
    }
    if (!SHA256_HEX.test(h.sha256))
      throw new BadRequestError("header.sha256", "must be the result's SHA-256 as 64 lowercase hex characters");
    return h;
  }
}

/**
 * One ReportShards stream: several ShardUploads back to back, each opened by its header chunk.
 * Each shard is checked as ShardUpload checks it; the declared sizes together may not exceed the
 * per-result limit either, so a batch holds no more in memory than one result could.
 */
export class ShardBatchUpload {
  private readonly uploads: ShardUpload[] = [];
  private declared = 0;

  constructor(private readonly maxResultBytes: number) {}

  accept(chunk: ShardResultChunk | UndecodableMessage): void {
    if (chunk instanceof UndecodableMessage) throw chunk.toError();
    if (chunk.chunk?.$case === "header" || this.uploads.length === 0) {
      const upload = new ShardUpload(this.maxResultBytes);
      upload.accept(chunk);
      this.declared += upload.header!.totalBytes;
      if (this.declared > this.maxResultBytes)
        throw new LimitExceededError(
          "maxResultBytes",
          `header.total_bytes: the batch's results together declare ${this.declared} bytes, over the limit of ${this.maxResultBytes} bytes (${MAX_RESULT_BYTES_FLAG} raises it)`,
        );
      this.uploads.push(upload);
      return;
    }
    this.uploads.at(-1)!.accept(chunk);
  }

  /** Every report, in the order sent, once the client half-closed. */
  finish(): ShardReport[] {
    if (this.uploads.length === 0) throw new BadRequestError("header", "the stream ended without a header chunk");
    return this.uploads.map((u) => u.finish());
  }
}
