// @ts-check
/**
 * The storage thread of blob-writer.ts. It is sent batches of blobs and answers each batch with
 * one message: every blob written to its temp file, all fsynced concurrently (the file system
 * commits concurrent fsyncs together), renamed into place, and each directory renamed into
 * fsynced once. One batch at a time; what arrives meanwhile is the next batch.
 */
import { fsync, fsyncSync, closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { parentPort } from "node:worker_threads";

/** @typedef {import("./blob-writer.ts").OwedBlob} OwedBlob */
/** @typedef {import("./blob-writer.ts").BlobAnswer} BlobAnswer */

if (!parentPort) throw new Error("blob-writer-thread.mjs runs as a worker thread");
const port = parentPort;

/** @type {OwedBlob[]} */
let queue = [];
let busy = false;

port.on("message", (/** @type {OwedBlob[]} */ blobs) => {
  queue.push(...blobs);
  if (!busy) setImmediate(next);
});

/** @param {unknown} err */
const message = (err) => String((err instanceof Error && err.message) || err);

/** @param {string} path @param {string} flags */
function fsyncPath(path, flags) {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function next() {
  if (busy || queue.length === 0) return;
  busy = true;
  const batch = queue;
  queue = [];
  void flush(batch).then((answers) => {
    port.postMessage(answers);
    busy = false;
    next();
  });
}

/**
 * One write(2) may take fewer bytes than given (a disk filling up): the rest is written, or the
 * error is thrown, so a short blob is never renamed into place as if whole.
 * @param {number} fd @param {Uint8Array} bytes
 */
function writeAll(fd, bytes) {
  for (let done = 0; done < bytes.length;) {
    const n = writeSync(fd, bytes, done);
    if (n <= 0) throw new Error("ENOSPC: no space left on device, write");
    done += n;
  }
}

/** @param {string} tmp */
function removeTemp(tmp) {
  try {
    rmSync(tmp, { force: true });
  } catch {
    // nothing more to undo
  }
}

/**
 * @param {OwedBlob[]} batch
 * @returns {Promise<BlobAnswer[]>}
 */
async function flush(batch) {
  /** @type {Array<{ m: OwedBlob; fd: number; answer: BlobAnswer }>} */
  const open = [];
  /** @type {BlobAnswer[]} */
  const answers = [];
  for (const m of batch) {
    /** @type {BlobAnswer} */
    const answer = { id: m.id, error: null };
    answers.push(answer);
    /** @type {number | null} */
    let fd = null;
    try {
      fd = openSync(m.tmp, "w");
      writeAll(fd, typeof m.bytes === "string" ? Buffer.from(m.bytes) : m.bytes);
      open.push({ m, fd, answer });
    } catch (err) {
      if (fd !== null) closeSync(fd);
      answer.error = message(err);
      removeTemp(m.tmp);
    }
  }
  await Promise.all(
    open.map(
      (o) =>
        new Promise((resolve) =>
          fsync(o.fd, (err) => {
            if (err) o.answer.error = message(err);
            resolve(undefined);
          }),
        ),
    ),
  );
  /** @type {Map<string, BlobAnswer[]>} */
  const dirs = new Map();
  for (const { m, fd, answer } of open) {
    try {
      closeSync(fd);
      if (answer.error !== null) throw new Error(answer.error);
      renameSync(m.tmp, m.path);
      const dir = dirname(m.path);
      const renamed = dirs.get(dir);
      if (renamed) renamed.push(answer);
      else dirs.set(dir, [answer]);
    } catch (err) {
      answer.error = message(err);
      removeTemp(m.tmp);
    }
  }
  for (const [dir, renamed] of dirs) {
    try {
      fsyncPath(dir, "r");
    } catch (err) {
      for (const a of renamed) a.error = `fsync of ${dir}: ${message(err)}`;
    }
  }
  return answers;
}
