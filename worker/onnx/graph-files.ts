/**
 * Where graphs with external weights live: a private directory holding a runner's .onnx files and
 * hard links to the weight files they point into. ONNX Runtime resolves external data relative to
 * the .onnx file and refuses symbolic links that lead out of its directory, so the files are
 * hard-linked in. Without a hard link from the temp dir (another filesystem), the directory goes
 * next to the checkpoint instead.
 *
 * Weights that are not float32 in the checkpoint (F16, BF16) have no bytes to point at: they are
 * written once, converted, to a float32 cache file (float32Cache), keyed by the checkpoint's
 * content digest so a later run of the same files reuses it. The cache lives in
 * RunnerOptions.weightCacheDir (default: the OS cache dir, $XDG_CACHE_HOME or ~/.cache, under
 * cna-sweep/weights); without a digest, or with the cache turned off (null), the converted file
 * goes in the runner's private directory and is removed with it.
 */
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { allTensors, sizeOf, tensorKey, tensorRows } from "../model/weights.ts";
import type { ModelWeights, Tensor } from "../model/weights.ts";
import type { TensorSource } from "../model/weight-files.ts";
import type { ExternalRef } from "./graph.ts";

/** The default weight cache: the OS cache directory's cna-sweep/weights. */
export function defaultWeightCacheDir(): string {
  const base = process.env["XDG_CACHE_HOME"];
  return join(base !== undefined && base !== "" ? base : join(homedir(), ".cache"), "cna-sweep", "weights");
}

/** Bump when the cache file's layout changes, so old files are not read in the new layout. */
const CACHE_FORMAT = "f32v1";
/** Each tensor starts on a page, so ONNX Runtime may map it rather than copy it. */
const ALIGN = 4096;
/** Values converted and written per step: the cache is written without holding a whole tensor (64 MiB of float32). */
const WRITE_CHUNK = 2 ** 24;

export class GraphFiles {
  readonly dir: string;
  private readonly links = new Map<string, string>();

  /** `anchor`: a weight file the directory must be able to link (the first the graphs point into), if any. */
  constructor(name: string, anchor: string | undefined) {
    const prefix = `cna-graphs-${basename(name).replace(/[^A-Za-z0-9_-]/g, "_")}-`;
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    if (anchor === undefined) return;
    try {
      this.link(anchor);
    } catch {
      rmSync(this.dir, { recursive: true, force: true });
      this.links.clear();
      this.dir = mkdtempSync(join(dirname(resolve(anchor)), `.${prefix}`));
      this.link(anchor);
    }
  }

  /** The name inside the directory under which `file` can be read (hard-linked in on first use). */
  private link(file: string): string {
    const full = resolve(file);
    if (dirname(full) === this.dir) return basename(full);
    let name = this.links.get(full);
    if (name === undefined) {
      name = `weights-${this.links.size}.bin`;
      linkSync(full, join(this.dir, name));
      this.links.set(full, name);
    }
    return name;
  }

  refer(source: TensorSource): ExternalRef {
    return { location: this.link(source.file), offset: source.offset, length: source.length };
  }

  write(key: string, bytes: Uint8Array): string {
    const path = join(this.dir, `${key.replace(/[^A-Za-z0-9_-]/g, "_")}.onnx`);
    writeFileSync(path, bytes);
    return path;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Float32 sources for every tensor that has none (not float32 in its file), by tensorKey: one
 * file holding them converted, at `dir`/`key`-f32v1.bin, written once (to a temp name, then
 * renamed) and reused while its size matches. The layout is a function of the tensors' shapes
 * alone, so the same digest always means the same file. Values are read from the checkpoint a
 * chunk at a time, so writing it holds no tensor whole.
 */
export function float32Cache(w: ModelWeights, dir: string, key: string): Map<unknown, TensorSource> {
  const missing = allTensors(w).filter((t: Tensor) => t.source === undefined);
  const sources = new Map<unknown, TensorSource>();
  if (missing.length === 0) return sources;
  const path = join(dir, `${key}-${CACHE_FORMAT}.bin`);
  let offset = 0;
  for (const t of missing) {
    const length = 4 * sizeOf(t.shape);
    sources.set(tensorKey(t), { file: path, offset, length });
    offset = Math.ceil((offset + length) / ALIGN) * ALIGN;
  }
  const size = Math.max(...[...sources.values()].map((s) => s.offset + s.length));
  if (existsSync(path) && statSync(path).size === size) return sources;
  mkdirSync(dir, { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, "w");
  try {
    for (const t of missing) {
      const s = sources.get(tensorKey(t))!;
      const count = sizeOf(t.shape);
      for (let start = 0; start < count; start += WRITE_CHUNK) {
        const values = tensorRows(t, [start], Math.min(WRITE_CHUNK, count - start));
        const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        for (let done = 0; done < bytes.length;)
          done += writeSync(fd, bytes, done, bytes.length - done, s.offset + start * 4 + done);
      }
    }
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(temp, path);
  return sources;
}
