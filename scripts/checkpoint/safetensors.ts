/**
 * safetensors encoding, as models/arith.py writes it: an 8-byte little-endian header length, a
 * JSON header with the tensors in sorted name order and packed offsets, padded with spaces so
 * the data starts 8-byte aligned, then the raw little-endian tensor bytes.
 *
 * {@link safetensorsHeader} builds the header from names, dtypes and shapes alone, so a writer
 * can stream the data after it without holding any tensor in memory (random-checkpoint's
 * writer); {@link encodeSafetensors} is the in-memory form tests use.
 */

/** Bytes per element of the dtypes written here. */
export const DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2 } as const;
export type FloatDtype = keyof typeof DTYPE_BYTES;

/** F32 from numbers; any dtype from raw little-endian bytes. */
export type TensorSpec =
  { dtype?: "F32"; shape: number[]; data: Float32Array } | { dtype: string; shape: number[]; bytes: Uint8Array };

export interface HeaderEntry {
  name: string;
  dtype: string;
  shape: readonly number[];
  byteLength: number;
}

export interface SafetensorsLayout {
  /** length prefix + JSON header, ready to write */
  header: Buffer;
  /** entries in the order their bytes must follow the header (sorted by name) */
  order: HeaderEntry[];
  /** header.length + the sum of the byte lengths: the file's size */
  fileBytes: number;
}

/** The header for these tensors; `extra` entries override or add raw header fields (for corrupt files). */
export function safetensorsHeader(
  entries: readonly HeaderEntry[],
  extra: Record<string, unknown> = {},
): SafetensorsLayout {
  const order = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const fields: Record<string, unknown> = {};
  let offset = 0;
  for (const e of order) {
    fields[e.name] = { dtype: e.dtype, shape: [...e.shape], data_offsets: [offset, offset + e.byteLength] };
    offset += e.byteLength;
  }
  let json = JSON.stringify({ ...fields, __metadata__: { format: "pt" }, ...extra });
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keep the data 8-byte aligned, as arith.py does
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const header = Buffer.concat([length, Buffer.from(json)]);
  return { header, order, fileBytes: header.length + offset };
}

/** Encodes a safetensors file in memory. `header` entries override or add raw header fields. */
export function encodeSafetensors(tensors: Record<string, TensorSpec>, header: Record<string, unknown> = {}): Buffer {
  const bytesOf = (spec: TensorSpec): Uint8Array =>
    "data" in spec ? new Uint8Array(spec.data.buffer, spec.data.byteOffset, spec.data.byteLength) : spec.bytes;
  const entries = Object.entries(tensors).map(([name, spec]) => ({
    name,
    dtype: spec.dtype ?? "F32",
    shape: spec.shape,
    byteLength: bytesOf(spec).length,
  }));
  const layout = safetensorsHeader(entries, header);
  return Buffer.concat([layout.header, ...layout.order.map((e) => bytesOf(tensors[e.name]!))]);
}

/** Little-endian u16 values as bytes (for F16 / BF16 tensors). */
export function u16Bytes(values: number[]): Uint8Array {
  const out = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => out.writeUInt16LE(v, i * 2));
  return out;
}
