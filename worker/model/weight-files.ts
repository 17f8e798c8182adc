/**
 * A checkpoint's weight files as one set of named tensors: model.safetensors, or the shards a
 * model.safetensors.index.json maps every tensor to (transformers' sharded save).
 *
 * The index is checked against the shards before any tensor is used: every shard it names must
 * be a plain file name inside the checkpoint directory and exist, every tensor it lists must be
 * in the shard it names, and every tensor of a shard must be listed for that shard. Otherwise
 * the error names the file and the weight_map entry at fault.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MissingTensorError, ModelNotFoundError, SafetensorsCorruptError, UnexpectedTensorError } from "./errors.ts";
import { openSafetensors } from "./safetensors.ts";
import type { SafetensorsFile, StoredTensor, TensorInfo } from "./safetensors.ts";

export const SINGLE_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";

/** Where a float32 tensor's bytes sit in a file, so a graph can point at them (ONNX external data). */
export interface TensorSource {
  file: string;
  offset: number;
  length: number;
}

export interface WeightFiles {
  /** The file errors name for the checkpoint's weights as a whole: model.safetensors or the index. */
  path: string;
  /** Every tensor, in file order, files in order. */
  names: string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** The file holding the tensor (errors about it name this file). */
  fileOf(name: string): string;
  getFloat32(name: string): Float32Array;
  /** Where the tensor's values are, to be read when needed. */
  stored(name: string): StoredTensor;
  /** The tensor's bytes in its file when they are float32 already, else undefined. */
  source(name: string): TensorSource | undefined;
  close(): void;
}

/**
 * The weight files of `dir`, relative to it: model.safetensors when present (transformers loads it
 * before an index), else the index and its shards in name order. The digest and the loader both
 * read this list, so what is hashed is what is loaded.
 */
export function weightFileNames(dir: string): { index: string | null; files: string[] } {
  if (existsSync(join(dir, SINGLE_FILE)) || !existsSync(join(dir, INDEX_FILE)))
    return { index: null, files: [SINGLE_FILE] };
  return { index: INDEX_FILE, files: [...new Set(Object.values(readIndex(dir)))].sort() };
}

/** weight_map of `dir`'s index: tensor name → shard file name, each checked to be a plain file name. */
function readIndex(dir: string): Record<string, string> {
  const path = join(dir, INDEX_FILE);
  const corrupt = (why: string, cause?: unknown) => new SafetensorsCorruptError(path, `${path}: ${why}`, cause);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw corrupt(`not valid JSON (${(err as Error).message})`, err);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map))
    throw corrupt("field weight_map must map tensor names to shard file names");
  for (const [name, shard] of Object.entries(map)) {
    // A shard is a file beside the index: no directories, so an index cannot reach outside the checkpoint.
    if (typeof shard !== "string" || shard === "" || /[/\\]/.test(shard) || shard === "." || shard === "..") {
      throw corrupt(
        `field weight_map["${name}"] must be a file name in the checkpoint directory (got ${JSON.stringify(shard)})`,
      );
    }
  }
  return map as Record<string, string>;
}

/** Opens the weight files of `dir` (headers only; tensors are read when asked for). */
export function openWeightFiles(dir: string): WeightFiles {
  const { index, files } = weightFileNames(dir);
  if (index === null) return single(openSafetensors(join(dir, SINGLE_FILE)));
  const indexPath = join(dir, index);
  const map = readIndex(dir);
  const opened: SafetensorsFile[] = [];
  try {
    for (const shard of files) {
      const path = join(dir, shard);
      const listed = Object.keys(map).find((n) => map[n] === shard)!;
      if (!existsSync(path))
        throw new ModelNotFoundError(
          path,
          `${path} does not exist, but ${indexPath} field weight_map["${listed}"] names it`,
        );
      opened.push(openSafetensors(path));
    }
    const byName = new Map<string, SafetensorsFile>();
    for (const [i, file] of opened.entries()) {
      const shard = files[i]!;
      for (const name of file.names) {
        if (map[name] !== shard) {
          throw new UnexpectedTensorError(
            file.path,
            name,
            map[name] === undefined
              ? `${indexPath} field weight_map does not list it`
              : `${indexPath} field weight_map["${name}"] puts it in ${map[name]}`,
          );
        }
        byName.set(name, file);
      }
    }
    for (const [name, shard] of Object.entries(map)) {
      if (!byName.has(name))
        throw new MissingTensorError(
          join(dir, shard),
          name,
          ` (${indexPath} field weight_map["${name}"] puts it there)`,
        );
    }
    return union(indexPath, opened, byName);
  } catch (err) {
    for (const f of opened) f.close();
    throw err;
  }
}

function single(file: SafetensorsFile): WeightFiles {
  return union(file.path, [file], new Map(file.names.map((n) => [n, file])));
}

function union(path: string, files: SafetensorsFile[], byName: Map<string, SafetensorsFile>): WeightFiles {
  const fileOf = (name: string): SafetensorsFile => {
    const f = byName.get(name);
    if (f === undefined) throw new MissingTensorError(path, name);
    return f;
  };
  return {
    path,
    names: files.flatMap((f) => f.names),
    has: (name) => byName.has(name),
    info: (name) => fileOf(name).info(name),
    fileOf: (name) => fileOf(name).path,
    getFloat32: (name) => fileOf(name).getFloat32(name),
    stored: (name) => fileOf(name).stored(name),
    source(name) {
      const f = fileOf(name);
      const { dtype, dataOffsets } = f.info(name);
      return dtype === "F32"
        ? { file: f.path, offset: f.dataStart + dataOffsets[0], length: dataOffsets[1] - dataOffsets[0] }
        : undefined;
    },
    close: () => files.forEach((f) => f.close()),
  };
}
