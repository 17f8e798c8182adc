/**
 * Durable blob writes off the event loop, with group commit. One storage thread per process
 * takes every blob, in batches: it writes each to a temp file, fsyncs them all concurrently
 * (the file system commits concurrent fsyncs together), renames them, and fsyncs each
 * directory it renamed into, once, before it answers. One batch is with the thread at a time;
 * the blobs that arrive meanwhile wait here and go over together, in one message, when it
 * answers (one message, and one wake-up, each way per batch). The coordinator's event loop does
 * none of the file work and stays free for the network.
 *
 * The thread's code is blob-writer-thread.mjs: plain JavaScript, type-checked by tsc through its
 * JSDoc types (@ts-check), so the worker loads it as it is whatever loader (tsx, a build) runs
 * this module.
 */
import { open, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";

/** What the thread is sent (a batch of these) and answers (one answer per blob). */
export interface OwedBlob {
  id: number;
  tmp: string;
  path: string;
  bytes: Uint8Array | string;
}

export interface BlobAnswer {
  id: number;
  /** null once the blob is durably in place */
  error: string | null;
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class BlobWriter {
  private thread: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private lastId = 0;
  /** blobs not posted yet: they go to the thread together, as its next batch */
  private outgoing: OwedBlob[] = [];
  /** a batch is with the thread and not answered yet */
  private batchOut = false;
  private postScheduled = false;

  /** Resolves once `path` holds `bytes` and its directory entry is on disk (via `tmp`, same directory). */
  write(tmp: string, path: string, bytes: Uint8Array | string): Promise<void> {
    const id = ++this.lastId;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.outgoing.push({ id, tmp, path, bytes });
      // Posted at the end of this turn if the thread is idle, else when it answers its batch:
      // one message (one wake-up of the thread, costly on a virtual machine) per batch.
      if (!this.batchOut && !this.postScheduled) {
        this.postScheduled = true;
        setImmediate(() => {
          this.postScheduled = false;
          this.post();
        });
      }
    });
  }

  private post(): void {
    if (this.batchOut) return;
    const blobs = this.outgoing.filter((b) => this.pending.has(b.id)); // a lost thread rejected what it owed
    this.outgoing = [];
    if (blobs.length === 0) return;
    const thread = this.start();
    thread.ref(); // keeps the process alive while writes are owed
    this.batchOut = true;
    thread.postMessage(blobs);
  }

  private start(): Worker {
    if (this.thread) return this.thread;
    const thread = new Worker(new URL("./blob-writer-thread.mjs", import.meta.url));
    thread.unref();
    // the thread answers each message it was sent, as one batch, with one message
    thread.on("message", (answers: BlobAnswer[]) => {
      this.batchOut = false;
      for (const a of answers) {
        const p = this.pending.get(a.id);
        if (!p) continue;
        this.pending.delete(a.id);
        if (a.error === null) p.resolve();
        else p.reject(new Error(a.error));
      }
      this.post(); // what queued meanwhile is the next batch
      if (this.pending.size === 0) thread.unref();
    });
    const lost = (why: string) => {
      if (this.thread !== thread) return;
      this.thread = null; // the next write starts a new thread
      this.batchOut = false;
      const owed = [...this.pending.values()];
      this.pending.clear();
      for (const p of owed) p.reject(new Error(`the storage thread ${why}`));
    };
    thread.on("error", (err) => lost(`failed: ${err.message}`));
    thread.on("exit", (code) => lost(`exited (${code})`));
    this.thread = thread;
    return thread;
  }
}

/** The process's storage thread, shared by every store. */
export const blobWriter = new BlobWriter();

let temps = 0;

/** Writes a file durably on the storage thread: temp file beside it, fsync, rename, directory fsync. */
export function writeDurably(path: string, bytes: Uint8Array | string): Promise<void> {
  return blobWriter.write(`${path}.tmp-${process.pid}-${++temps}`, path, bytes);
}

/** Removes a file (absent is fine) and fsyncs its directory, so the removal outlives a crash. */
export async function removeDurably(path: string): Promise<void> {
  await rm(path, { force: true });
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
