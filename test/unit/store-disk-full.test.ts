/**
 * A data directory that cannot be used, and a disk that fills up mid-run. The full disk is made
 * by injecting the store's writes (a real ENOSPC needs a file system to fill, which a test
 * cannot mount without root): a journal write cut short and then refused, a blob refused. What
 * is asserted is what a restart sees: no torn journal line, no half result, and every event
 * and result written once space is back.
 */
import { writeSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SweepStore, openDataDir } from "../../coordinator/index.ts";
import type { JournalEvent, StoreWrites } from "../../coordinator/store.ts";
import { writeDurably } from "../../coordinator/blob-writer.ts";
import { dataDirError } from "../../coordinator/errors.ts";
import { errorInfo } from "../../core/index.ts";

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), "cna-full-"));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const enospc = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

/** The real writes, until `full` is set: then a journal write takes half of what it is given and the next fails. */
function fillingDisk(): StoreWrites & { full: boolean } {
  let cut = false;
  return {
    full: false,
    writeBlob(path, bytes) {
      return this.full ? Promise.reject(enospc()) : writeDurably(path, bytes);
    },
    writeJournal(fd, bytes) {
      if (!this.full) return writeSync(fd, bytes);
      if (cut) throw enospc();
      cut = true;
      return writeSync(fd, bytes.subarray(0, Math.ceil(bytes.length / 2)));
    },
  };
}

const event = (n: number): JournalEvent => ({ type: "sweep-cancelled", sweepId: `s${n}`, at: "2026-01-01T00:00:00Z" });
const journalLines = (dir: string) => readFileSync(join(dir, "journal.jsonl"), "utf8");
const codeOf = async (p: Promise<unknown>) =>
  errorInfo(
    await p.then(
      () => null,
      (err: unknown) => err,
    ),
  );

describe("a disk that fills up", () => {
  it("refuses a journal write with DISK_FULL, cuts back the torn line, and writes it once space is back", () => {
    const dir = fresh();
    const disk = fillingDisk();
    const store = new SweepStore(dir, { writes: disk });
    store.open();
    store.append(event(1));
    disk.full = true;
    let thrown: unknown;
    try {
      store.append(event(2));
    } catch (err) {
      thrown = err;
    }
    expect(errorInfo(thrown)).toMatchObject({ code: "DISK_FULL", retryable: true });
    expect(errorInfo(thrown).message).toContain(join(dir, "journal.jsonl"));
    // what a restart would read now: the first event, and no half line
    expect(journalLines(dir)).toBe(`${JSON.stringify(event(1))}\n`);
    disk.full = false;
    store.append(event(3));
    store.close();
    const reopened = new SweepStore(dir);
    expect(reopened.open()).toEqual([event(1), event(2), event(3)]);
    reopened.close();
  });

  it("refuses a result with DISK_FULL (retryable) and stores nothing of it; the same report later is stored", async () => {
    const dir = fresh();
    const disk = fillingDisk();
    const store = new SweepStore(dir, { writes: disk });
    store.open();
    const bytes = new TextEncoder().encode('{"kind":"verify"}');
    disk.full = true;
    const info = await codeOf(store.putResult("shard-a", bytes));
    expect(info).toMatchObject({ code: "DISK_FULL", retryable: true });
    expect(info.message).toMatch(/shard-a .*no space left on device/);
    expect(store.hasResult("shard-a")).toBe(false);
    expect(readdirSync(join(dir, "results"))).toEqual([]);
    disk.full = false;
    expect(await store.putResult("shard-a", bytes)).toMatchObject({ outcome: "stored" });
    store.close();
    const reopened = new SweepStore(dir);
    reopened.open();
    expect(reopened.hasResult("shard-a")).toBe(true);
    reopened.close();
  });

  it("a note that cannot be written at the end of the turn does not end the process: the next report is refused until it is written", async () => {
    const dir = fresh();
    const disk = fillingDisk();
    const store = new SweepStore(dir, { writes: disk });
    store.open();
    disk.full = true;
    store.note(event(1));
    await new Promise((resolve) => setImmediate(resolve)); // the end-of-turn write fails, silently here
    const bytes = new TextEncoder().encode("{}");
    expect(await codeOf(store.putResult("shard-b", bytes))).toMatchObject({ code: "DISK_FULL" });
    expect(store.hasResult("shard-b")).toBe(false);
    expect(journalLines(dir)).toBe("");
    disk.full = false;
    expect(await store.putResult("shard-b", bytes)).toMatchObject({ outcome: "stored" });
    store.close();
    const reopened = new SweepStore(dir);
    expect(reopened.open()).toEqual([event(1)]);
    reopened.close();
  });
});

describe("a data directory that cannot be used", () => {
  it("under a regular file: DATA_DIR_UNWRITABLE naming the directory (root cannot write there either)", async () => {
    const file = join(fresh(), "plain-file");
    writeFileSync(file, "x");
    const info = errorInfo(
      await openDataDir(join(file, "data")).then(
        () => null,
        (err: unknown) => err,
      ),
    );
    expect(info).toMatchObject({ code: "DATA_DIR_UNWRITABLE", retryable: false });
    expect(info.message).toContain(`the data directory ${join(file, "data")}`);
    expect(info.message).toMatch(/ENOTDIR/);
  });

  it("classes permission, read-only and full file systems by their errno", () => {
    const sys = (code: string) => Object.assign(new Error(`${code}: something, open '/d/x'`), { code });
    expect(dataDirError("/d", "m", sys("EACCES")).code).toBe("DATA_DIR_UNWRITABLE");
    expect(dataDirError("/d", "m", sys("EROFS")).code).toBe("DATA_DIR_UNWRITABLE");
    expect(dataDirError("/d", "m", sys("ENOSPC")).code).toBe("DISK_FULL");
    expect(dataDirError("/d", "m", sys("EDQUOT")).code).toBe("DISK_FULL");
    // across the storage thread only the message is left
    expect(dataDirError("/d", "m", new Error("ENOSPC: no space left on device, write")).code).toBe("DISK_FULL");
    expect(dataDirError("/d", "m", new Error("EIO: i/o error")).code).toBe("STORE_FAILED");
  });

  it("a fresh directory is created and keeps its instance id", async () => {
    const dir = join(fresh(), "new", "data");
    const id = await openDataDir(dir);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await openDataDir(dir)).toBe(id);
    expect(readdirSync(dir).sort()).toEqual(["instance-id", "sweeps"]);
  });
});
