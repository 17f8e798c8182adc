/**
 * A validating safetensors reader.
 *
 * Format: an 8-byte little-endian u64 header length N, N bytes of JSON header
 * (`{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { string: string } }`),
 * then the data section; offsets are relative to its start. Everything is checked when the file
 * is opened — the reference implementation's rules: the tensors tile the data section exactly,
 * without overlap or holes, and each byte length is product(shape) × dtype size — so a bad file
 * fails at load with the path and tensor named, never later as garbage numbers in an analysis.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { float32FromBf16, float32FromF16, float32FromF32 } from "./dtypes.ts";
import {
  MissingTensorError,
  ModelNotFoundError,
  SafetensorsCorruptError,
  SafetensorsTruncatedError,
  UnknownDtypeError,
} from "./errors.ts";

/** Byte size of every dtype the format defines; sub-byte types (F4, F6_*) are not accepted. */
const DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};
/** The dtypes {@link SafetensorsFile.getFloat32} converts. */
export const FLOAT_DTYPES = ["F32", "F16", "BF16"] as const;
/** The reference implementation's limit; a larger value means a corrupt or foreign file. */
const MAX_HEADER_BYTES = 100_000_000;
/** Bytes per read() call: readSync takes at most 2 GiB at once, and tensors of real models exceed it. */
const READ_CHUNK = 2 ** 30;

export interface TensorInfo {
  dtype: string;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data section. */
  dataOffsets: [number, number];
}

/**
 * Where a file holds a tensor and how, so its values can be read when needed (and only the part
 * needed) instead of being kept in memory: see {@link readStored}.
 */
export interface StoredTensor {
  file: string;
  /** Absolute byte offset of the tensor's first value. */
  offset: number;
  dtype: FloatDtype;
  /** Values (product of the shape). */
  count: number;
}

export type FloatDtype = (typeof FLOAT_DTYPES)[number];

export interface SafetensorsFile {
  path: string;
  /** Absolute byte offset of the data section (8 + header length). */
  dataStart: number;
  /** Tensor names in file order. */
  names: string[];
  metadata: Record<string, string>;
  has(name: string): boolean;
  /** Throws MISSING_TENSOR for a name the file does not hold. */
  info(name: string): TensorInfo;
  /**
   * The tensor as float32, row-major, in an array of its own (F16 and BF16 widened). A file opened
   * with openSafetensors is read one tensor at a time, never whole: checkpoints outgrow a Buffer.
   */
  getFloat32(name: string): Float32Array;
  /**
   * Where the tensor's values are, for reading them later with {@link readStored} (a file opened
   * with openSafetensors; bytes given to parseSafetensors have no file to read again). Throws for
   * a dtype getFloat32 refuses.
   */
  stored(name: string): StoredTensor;
  /** Releases the file (a no-op for bytes already in memory). */
  close(): void;
}

/** Where a file's bytes come from: memory, or a file read at offsets. */
interface ByteSource {
  length: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

/** Reads and validates a safetensors file's header; tensors are read when asked for. */
export function openSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new ModelNotFoundError(path, `cannot read ${path}: ${(err as Error).message}`, err);
  }
  const source: ByteSource = {
    length: fstatSync(fd).size,
    read(offset, length) {
      // a fresh ArrayBuffer: 4-byte aligned, so F32 data is viewed, not copied again
      const out = new Uint8Array(length);
      for (let done = 0; done < length;) {
        const n = readSync(fd, out, done, Math.min(READ_CHUNK, length - done), offset + done);
        if (n === 0)
          throw new SafetensorsTruncatedError(
            path,
            `${path}: the file ended at byte ${offset + done} while a tensor was read (it changed while open?)`,
          );
        done += n;
      }
      return out;
    },
    close: () => closeSync(fd),
  };
  try {
    return fromSource(source, path);
  } catch (err) {
    source.close();
    throw err;
  }
}

/** Validates safetensors bytes already in memory; `path` is only used in error messages. */
export function parseSafetensors(bytes: Buffer, path: string): SafetensorsFile {
  return fromSource(
    { length: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length), close: () => {} },
    path,
  );
}

function fromSource(source: ByteSource, path: string): SafetensorsFile {
  if (source.length < 8) {
    throw new SafetensorsTruncatedError(
      path,
      `${path}: ${source.length} bytes is too short for a safetensors file (the header length alone is 8)`,
    );
  }
  const headerBytes = Buffer.from(source.read(0, 8)).readBigUInt64LE(0);
  if (headerBytes > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsCorruptError(
      path,
      `${path}: header length ${headerBytes} is absurd (limit ${MAX_HEADER_BYTES}); not a safetensors file?`,
    );
  }
  const dataStart = 8 + Number(headerBytes);
  if (dataStart > source.length) {
    throw new SafetensorsTruncatedError(
      path,
      `${path}: header length ${headerBytes} runs past the end of the ${source.length}-byte file`,
    );
  }
  const tensors = parseHeader(Buffer.from(source.read(8, dataStart - 8)), path);
  checkLayout(tensors, source.length - dataStart, path);

  const info = (name: string): TensorInfo => {
    const found = tensors.get(name);
    if (found === undefined) throw new MissingTensorError(path, name);
    return found;
  };
  return {
    path,
    dataStart,
    names: [...tensors.keys()],
    metadata: tensors.metadata,
    has: (name) => tensors.has(name),
    info,
    getFloat32(name) {
      const { dtype, shape, dataOffsets } = info(name);
      const float = floatDtype(path, name, dtype);
      const bytes = source.read(dataStart + dataOffsets[0], dataOffsets[1] - dataOffsets[0]);
      return widen(
        bytes,
        float,
        shape.reduce((a, b) => a * b, 1),
      );
    },
    stored(name) {
      const { dtype, shape, dataOffsets } = info(name);
      return {
        file: path,
        offset: dataStart + dataOffsets[0],
        dtype: floatDtype(path, name, dtype),
        count: shape.reduce((a, b) => a * b, 1),
      };
    },
    close: () => source.close(),
  };
}

function floatDtype(path: string, name: string, dtype: string): FloatDtype {
  if (!(FLOAT_DTYPES as readonly string[]).includes(dtype))
    throw new UnknownDtypeError(path, name, dtype, FLOAT_DTYPES);
  return dtype as FloatDtype;
}

function widen(bytes: Uint8Array, dtype: FloatDtype, count: number): Float32Array {
  if (dtype === "F32") return float32FromF32(bytes, 0, count);
  return dtype === "F16" ? float32FromF16(bytes, 0, count) : float32FromBf16(bytes, 0, count);
}

/**
 * Values [start, start + count) of a stored tensor at each of `starts`, widened to float32 and
 * concatenated: one read for a range, or one per row when gathering strided columns. The file is
 * opened for the call only; a file that has gone or shrunk since the checkpoint was loaded is an
 * error naming it.
 */
export function readStored(s: StoredTensor, starts: readonly number[], count: number): Float32Array {
  const size = DTYPE_SIZES[s.dtype]!;
  for (const start of starts) {
    if (
      !Number.isSafeInteger(start) ||
      start < 0 ||
      !Number.isSafeInteger(count) ||
      count < 0 ||
      start + count > s.count
    ) {
      throw new RangeError(`values [${start}, ${start + count}) are outside the stored tensor's ${s.count}`);
    }
  }
  let fd: number;
  try {
    fd = openSync(s.file, "r");
  } catch (err) {
    throw new ModelNotFoundError(
      s.file,
      `cannot read ${s.file} (it was loaded earlier): ${(err as Error).message}`,
      err,
    );
  }
  try {
    const bytes = new Uint8Array(starts.length * count * size);
    starts.forEach((start, i) => {
      const want = count * size;
      for (let done = 0; done < want;) {
        const n = readSync(
          fd,
          bytes,
          i * want + done,
          Math.min(READ_CHUNK, want - done),
          s.offset + start * size + done,
        );
        if (n === 0)
          throw new SafetensorsTruncatedError(
            s.file,
            `${s.file}: the file ended at byte ${s.offset + start * size + done} while a tensor was read (it changed after it was loaded?)`,
          );
        done += n;
      }
    });
    return widen(bytes, s.dtype, starts.length * count);
  } finally {
    closeSync(fd);
  }
}

type Entries = Map<string, TensorInfo> & { metadata: Record<string, string> };

function parseHeader(raw: Buffer, path: string): Entries {
  const corrupt = (why: string, cause?: unknown) => new SafetensorsCorruptError(path, `${path}: ${why}`, cause);
  let header: unknown;
  try {
    header = JSON.parse(raw.toString("utf8"));
  } catch (err) {
    throw corrupt(`header is not valid JSON (${(err as Error).message})`, err);
  }
  if (!isRecord(header)) throw corrupt("header is not a JSON object");
  const entries: Entries = Object.assign(new Map<string, TensorInfo>(), { metadata: {} });
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isRecord(value) || !Object.values(value).every((v) => typeof v === "string")) {
        throw corrupt("__metadata__ must map strings to strings");
      }
      entries.metadata = value as Record<string, string>;
      continue;
    }
    if (!isRecord(value)) throw corrupt(`entry for tensor "${name}" is not an object`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== "string") throw corrupt(`tensor "${name}" has no dtype`);
    const size = DTYPE_SIZES[dtype];
    if (size === undefined) throw new UnknownDtypeError(path, name, dtype, FLOAT_DTYPES);
    if (!Array.isArray(shape) || !shape.every(isCount))
      throw corrupt(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw corrupt(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw corrupt(`tensor "${name}" has data_offsets [${begin}, ${end}] that end before they begin`);
    const byteLength = shape.reduce((a: number, b: number) => a * b, 1) * size;
    if (end - begin !== byteLength) {
      throw corrupt(
        `tensor "${name}" spans ${end - begin} bytes but ${dtype} [${shape.join(", ")}] needs ${byteLength}`,
      );
    }
    entries.set(name, { dtype, shape: [...shape], dataOffsets: [begin, end] });
  }
  return entries;
}

/** Tensors must tile [0, dataLength) exactly: sorted by begin, each starts where the last ended. */
function checkLayout(entries: Entries, dataLength: number, path: string): void {
  const sorted = [...entries].sort(([, x], [, y]) => x.dataOffsets[0] - y.dataOffsets[0]);
  let cursor = 0;
  let previous = "the start of the data section";
  for (const [name, info] of sorted) {
    const [begin, end] = info.dataOffsets;
    if (begin !== cursor) {
      const why = begin < cursor ? `overlaps ${previous}` : `leaves a ${begin - cursor}-byte hole after ${previous}`;
      throw new SafetensorsCorruptError(path, `${path}: tensor "${name}" at bytes [${begin}, ${end}) ${why}`);
    }
    if (end > dataLength) {
      throw new SafetensorsTruncatedError(
        path,
        `${path}: tensor "${name}" ends at data byte ${end} but the data section has only ${dataLength} bytes`,
      );
    }
    cursor = end;
    previous = `tensor "${name}"`;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsCorruptError(
      path,
      `${path}: ${dataLength - cursor} bytes after the last tensor belong to no tensor`,
    );
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
