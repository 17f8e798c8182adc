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
import { readFileSync } from "node:fs";
import { float32FromBf16, float32FromF16, float32FromF32 } from "./dtypes.ts";
import { MissingTensorError, ModelNotFoundError, SafetensorsCorruptError, SafetensorsTruncatedError, UnknownDtypeError } from "./errors.ts";

/** Byte size of every dtype the format defines; sub-byte types (F4, F6_*) are not accepted. */
const DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};
/** The dtypes {@link SafetensorsFile.getFloat32} converts. */
export const FLOAT_DTYPES = ["F32", "F16", "BF16"] as const;
/** The reference implementation's limit; a larger value means a corrupt or foreign file. */
const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  dtype: string;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsFile {
  path: string;
  /** The whole file, kept so tensors can be viewed without copying and the file hashed. */
  bytes: Buffer;
  /** Absolute byte offset of the data section (8 + header length). */
  dataStart: number;
  /** Tensor names in file order. */
  names: string[];
  metadata: Record<string, string>;
  has(name: string): boolean;
  /** Throws MISSING_TENSOR for a name the file does not hold. */
  info(name: string): TensorInfo;
  /**
   * The tensor as float32, row-major. F32 data is a view into `bytes` when aligned (do not
   * write to it); F16 and BF16 are converted into a new array.
   */
  getFloat32(name: string): Float32Array;
}

/** Reads and validates a safetensors file. */
export function openSafetensors(path: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ModelNotFoundError(path, `cannot read ${path}: ${(err as Error).message}`, err);
  }
  return parseSafetensors(bytes, path);
}

/** Validates safetensors bytes already in memory; `path` is only used in error messages. */
export function parseSafetensors(bytes: Buffer, path: string): SafetensorsFile {
  if (bytes.length < 8) {
    throw new SafetensorsTruncatedError(path, `${path}: ${bytes.length} bytes is too short for a safetensors file (the header length alone is 8)`);
  }
  const headerBytes = bytes.readBigUInt64LE(0);
  if (headerBytes > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsCorruptError(path, `${path}: header length ${headerBytes} is absurd (limit ${MAX_HEADER_BYTES}); not a safetensors file?`);
  }
  const dataStart = 8 + Number(headerBytes);
  if (dataStart > bytes.length) {
    throw new SafetensorsTruncatedError(path, `${path}: header length ${headerBytes} runs past the end of the ${bytes.length}-byte file`);
  }
  const tensors = parseHeader(bytes.subarray(8, dataStart), path);
  checkLayout(tensors, bytes.length - dataStart, path);

  const info = (name: string): TensorInfo => {
    const found = tensors.get(name);
    if (found === undefined) throw new MissingTensorError(path, name);
    return found;
  };
  return {
    path,
    bytes,
    dataStart,
    names: [...tensors.keys()],
    metadata: tensors.metadata,
    has: (name) => tensors.has(name),
    info,
    getFloat32(name) {
      const { dtype, shape, dataOffsets } = info(name);
      const offset = dataStart + dataOffsets[0];
      const count = shape.reduce((a, b) => a * b, 1);
      switch (dtype) {
        case "F32":
          return float32FromF32(bytes, offset, count);
        case "F16":
          return float32FromF16(bytes, offset, count);
        case "BF16":
          return float32FromBf16(bytes, offset, count);
        default:
          throw new UnknownDtypeError(path, name, dtype, FLOAT_DTYPES);
      }
    },
  };
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
  const entries = Object.assign(new Map<string, TensorInfo>(), { metadata: {} as Record<string, string> });
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
    if (!Array.isArray(shape) || !shape.every(isCount)) throw corrupt(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw corrupt(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw corrupt(`tensor "${name}" has data_offsets [${begin}, ${end}] that end before they begin`);
    const byteLength = shape.reduce((a: number, b: number) => a * b, 1) * size;
    if (end - begin !== byteLength) {
      throw corrupt(`tensor "${name}" spans ${end - begin} bytes but ${dtype} [${shape.join(", ")}] needs ${byteLength}`);
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
      throw new SafetensorsTruncatedError(path, `${path}: tensor "${name}" ends at data byte ${end} but the data section has only ${dataLength} bytes`);
    }
    cursor = end;
    previous = `tensor "${name}"`;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsCorruptError(path, `${path}: ${dataLength - cursor} bytes after the last tensor belong to no tensor`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
