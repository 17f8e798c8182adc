import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openSafetensors, parseSafetensors } from "../../worker/model/index.ts";
import { encodeSafetensors, u16Bytes } from "../helpers/checkpoint.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-safetensors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error `fn` throws (fails the test if it throws nothing). */
function thrown(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error("expected an error");
}

const F32 = (shape: number[], values: number[]) => ({ shape, data: new Float32Array(values) });

describe("openSafetensors", () => {
  it("reads F32 tensors, names, info and metadata from a file", () => {
    const path = join(dir, "ok.safetensors");
    writeFileSync(path, encodeSafetensors({ b: F32([3], [4, 5, 6]), a: F32([2, 2], [0, 1, 2, 3]) }));
    const file = openSafetensors(path);
    expect(file.names.sort()).toEqual(["a", "b"]);
    expect(file.metadata).toEqual({ format: "pt" });
    expect(file.info("a")).toEqual({ dtype: "F32", shape: [2, 2], dataOffsets: [0, 16] });
    expect(file.info("b")).toEqual({ dtype: "F32", shape: [3], dataOffsets: [16, 28] });
    expect([...file.getFloat32("a")]).toEqual([0, 1, 2, 3]);
    expect([...file.getFloat32("b")]).toEqual([4, 5, 6]);
  });

  it("copies F32 data that is not 4-byte aligned", () => {
    const aligned = encodeSafetensors({ x: F32([2], [1.5, -7]) });
    const shifted = Buffer.alloc(aligned.length + 1);
    aligned.copy(shifted, 1);
    const file = parseSafetensors(shifted.subarray(1), "shifted");
    expect([...file.getFloat32("x")]).toEqual([1.5, -7]);
  });

  it("converts F16, subnormals and specials included", () => {
    const bits = [0x3c00, 0xc100, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x3555, 0x8000, 0x7c00, 0xfc00];
    const file = parseSafetensors(
      encodeSafetensors({ h: { dtype: "F16", shape: [bits.length], bytes: u16Bytes(bits) } }),
      "f16",
    );
    const got = [...file.getFloat32("h")];
    expect(got).toEqual([1, -2.5, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 0.333251953125, -0, Infinity, -Infinity]);
    expect(Object.is(got[7], -0)).toBe(true);
    const nan = parseSafetensors(
      encodeSafetensors({ n: { dtype: "F16", shape: [1], bytes: u16Bytes([0x7e00]) } }),
      "nan",
    );
    expect(Number.isNaN(nan.getFloat32("n")[0])).toBe(true);
  });

  it("converts BF16, subnormals included", () => {
    const bits = [0x3f80, 0xc020, 0x4780, 0x4049, 0x0001, 0x8000, 0x7f80];
    const file = parseSafetensors(
      encodeSafetensors({ w: { dtype: "BF16", shape: [7], bytes: u16Bytes(bits) } }),
      "bf16",
    );
    expect([...file.getFloat32("w")]).toEqual([1, -2.5, 65536, 3.140625, 2 ** -133, -0, Infinity]);
  });

  it("names a missing file MODEL_NOT_FOUND", () => {
    const path = join(dir, "nope.safetensors");
    expect(thrown(() => openSafetensors(path))).toMatchObject({ code: "MODEL_NOT_FOUND", path, retryable: false });
  });

  it("reports a truncated file", () => {
    const full = encodeSafetensors({ a: F32([4], [1, 2, 3, 4]) });
    const err = thrown(() => parseSafetensors(full.subarray(0, full.length - 3), "cut.safetensors"));
    expect(err).toMatchObject({
      name: "SafetensorsTruncatedError",
      code: "SAFETENSORS_TRUNCATED",
      path: "cut.safetensors",
    });
    expect(err.message).toContain('"a"');
    expect(thrown(() => parseSafetensors(Buffer.alloc(5), "tiny"))).toMatchObject({ code: "SAFETENSORS_TRUNCATED" });
  });

  it("reports a header length larger than the file as truncated, and an absurd one as corrupt", () => {
    const bytes = encodeSafetensors({ a: F32([1], [1]) });
    bytes.writeBigUInt64LE(BigInt(bytes.length), 0);
    expect(thrown(() => parseSafetensors(bytes, "long"))).toMatchObject({ code: "SAFETENSORS_TRUNCATED" });
    bytes.writeBigUInt64LE(2n ** 63n, 0);
    const err = thrown(() => parseSafetensors(bytes, "absurd"));
    expect(err).toMatchObject({ code: "SAFETENSORS_CORRUPT", path: "absurd" });
    expect(err.message).toContain("absurd");
  });

  it("reports bad header JSON", () => {
    const bytes = encodeSafetensors({ a: F32([1], [1]) });
    bytes.write("#", 8);
    const err = thrown(() => parseSafetensors(bytes, "bad.json"));
    expect(err).toMatchObject({ code: "SAFETENSORS_CORRUPT" });
    expect(err.message).toContain("not valid JSON");
  });

  it("reports overlapping offsets, holes, wrong byte lengths and trailing bytes", () => {
    const two = { a: F32([2], [1, 2]), b: F32([2], [3, 4]) };
    const overlap = encodeSafetensors(two, { b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } });
    expect(thrown(() => parseSafetensors(overlap, "o")).message).toMatch(/"b".*overlaps tensor "a"/);
    const hole = encodeSafetensors(
      { a: F32([1], [1]), b: F32([2], [3, 4]) },
      { b: { dtype: "F32", shape: [1], data_offsets: [8, 12] } },
    );
    expect(thrown(() => parseSafetensors(hole, "h"))).toMatchObject({ code: "SAFETENSORS_CORRUPT" });
    const wrongLength = encodeSafetensors(two, { b: { dtype: "F32", shape: [3], data_offsets: [8, 16] } });
    expect(thrown(() => parseSafetensors(wrongLength, "w")).message).toContain("needs 12");
    const backwards = encodeSafetensors(two, { b: { dtype: "F32", shape: [0], data_offsets: [16, 8] } });
    expect(thrown(() => parseSafetensors(backwards, "r"))).toMatchObject({ code: "SAFETENSORS_CORRUPT" });
    const trailing = Buffer.concat([encodeSafetensors(two), Buffer.alloc(4)]);
    expect(thrown(() => parseSafetensors(trailing, "t"))).toMatchObject({ code: "SAFETENSORS_CORRUPT" });
    const badShape = encodeSafetensors(two, { b: { dtype: "F32", shape: [-2], data_offsets: [8, 16] } });
    expect(thrown(() => parseSafetensors(badShape, "s"))).toMatchObject({ code: "SAFETENSORS_CORRUPT" });
  });

  it("reports a dtype the format does not define when opening", () => {
    const bytes = encodeSafetensors({ q: { dtype: "F7_WEIRD", shape: [2], bytes: new Uint8Array(2) } });
    const err = thrown(() => parseSafetensors(bytes, "weird"));
    expect(err).toMatchObject({ name: "UnknownDtypeError", code: "UNKNOWN_DTYPE", tensor: "q", dtype: "F7_WEIRD" });
  });

  it("opens F8_E4M3 but refuses to convert it, naming tensor and dtype", () => {
    const file = parseSafetensors(
      encodeSafetensors({ q: { dtype: "F8_E4M3", shape: [4], bytes: new Uint8Array(4) } }),
      "f8",
    );
    expect(file.info("q").dtype).toBe("F8_E4M3");
    const err = thrown(() => file.getFloat32("q"));
    expect(err).toMatchObject({ code: "UNKNOWN_DTYPE", tensor: "q", dtype: "F8_E4M3", path: "f8" });
    expect(err.message).toContain("F32, F16, BF16");
  });

  it("names an unknown tensor MISSING_TENSOR", () => {
    const file = parseSafetensors(encodeSafetensors({ a: F32([1], [1]) }), "m");
    expect(thrown(() => file.getFloat32("zz"))).toMatchObject({ code: "MISSING_TENSOR", tensor: "zz" });
  });
});
