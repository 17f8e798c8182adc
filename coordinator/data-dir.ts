/**
 * The coordinator's data directory as a whole (docs/architecture.md, "The durable store"): made
 * if missing, checked writable before anything is planned or published, and its instance id read
 * or created. A directory that cannot be used stops the start with a named error
 * (DATA_DIR_UNWRITABLE, DISK_FULL) naming it, instead of failing on the first result reported.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeDurably } from "./blob-writer.ts";
import { dataDirError } from "./errors.ts";

/**
 * Creates `<dir>/sweeps`, proves the directory takes a durable write (a probe file written the
 * way blobs are, then removed: an existing directory can have turned read-only or full), and
 * returns this directory's instance id.
 */
export async function openDataDir(dir: string): Promise<string> {
  const fail = (what: string, err: unknown) =>
    dataDirError(dir, `cannot use the data directory ${dir}: ${what}: ${(err as Error).message}`, err);
  try {
    mkdirSync(join(dir, "sweeps"), { recursive: true });
  } catch (err) {
    throw fail("cannot create it", err);
  }
  const probe = join(dir, `.write-probe-${process.pid}`);
  try {
    await writeDurably(probe, "probe\n");
    rmSync(probe, { force: true });
  } catch (err) {
    throw fail("cannot write in it", err);
  }
  const idFile = join(dir, "instance-id");
  try {
    if (!existsSync(idFile)) await writeDurably(idFile, `${randomUUID()}\n`);
    return readFileSync(idFile, "utf8").trim();
  } catch (err) {
    throw fail(`cannot read or write ${idFile}`, err);
  }
}
