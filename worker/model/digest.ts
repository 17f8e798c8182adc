/**
 * The content digest of a checkpoint directory: sha256 of every file the engine reads (config,
 * tokenizer, weights: the single safetensors file, or the index and every shard it names),
 * combined into one digest. It is part of every shard's identity, so results computed from other
 * weights, another config or another tokenizer are never reused or merged under the same name.
 *
 * Files are hashed streaming (checkpoints reach many GB) and remembered per process by path,
 * size and modification time, so planning and loading in one process hash each file once.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ModelDigest } from "../../core/index.ts";
import { ModelNotFoundError } from "./errors.ts";
import { weightFileNames } from "./weight-files.ts";

/** Read when present: they change what the tokenizer does. */
const OPTIONAL = ["tokenizer_config.json"];

const memo = new Map<string, { size: number; mtimeMs: number; sha256: Promise<string> }>();

/** The files of a checkpoint the engine reads, relative to `dir`, in a fixed order. */
export function checkpointFiles(dir: string): string[] {
  const { index, files } = weightFileNames(dir);
  return [
    "config.json",
    "tokenizer.json",
    ...OPTIONAL.filter((f) => existsSync(join(dir, f))),
    ...(index === null ? [] : [index]),
    ...files,
  ];
}

/** sha256 of one file, streamed; remembered while its size and mtime stay the same. */
export function fileSha256(path: string): Promise<string> {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new ModelNotFoundError(path, `cannot read ${path}: ${(err as Error).message}`, err);
  }
  const known = memo.get(path);
  if (known && known.size === st.size && known.mtimeMs === st.mtimeMs) return known.sha256;
  const sha256 = new Promise<string>((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", (err) => reject(new ModelNotFoundError(path, `cannot read ${path}: ${err.message}`, err)))
      .on("end", () => resolve(hash.digest("hex")));
  });
  memo.set(path, { size: st.size, mtimeMs: st.mtimeMs, sha256 });
  sha256.catch(() => memo.delete(path));
  return sha256;
}

/** Every file's sha256 and the combined digest of the checkpoint in `dir`. */
export async function digestCheckpoint(dir: string): Promise<ModelDigest> {
  if (!existsSync(dir)) throw new ModelNotFoundError(dir, `model directory ${dir} does not exist`);
  const names = checkpointFiles(dir);
  const sums = await Promise.all(names.map((f) => fileSha256(join(dir, f))));
  const files = Object.fromEntries(names.map((f, i) => [f, sums[i]!]));
  return { digest: combineDigests(files), files };
}

/** One digest over the per-file ones: sha256 of "name sha256\n" lines in name order. */
export function combineDigests(files: Readonly<Record<string, string>>): string {
  const hash = createHash("sha256");
  for (const name of Object.keys(files).sort()) hash.update(`${name} ${files[name]}\n`);
  return hash.digest("hex");
}

/** Digests of several models by id, e.g. a sweep file's, for planning. */
export async function digestModels(
  models: ReadonlyArray<{ id: string; path: string }>,
): Promise<Record<string, ModelDigest>> {
  return Object.fromEntries(
    await Promise.all(models.map(async (m) => [m.id, await digestCheckpoint(m.path)] as const)),
  );
}
