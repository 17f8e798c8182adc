/**
 * proto/gen/ is what proto/generate.sh writes today: generated code is never edited by hand and
 * never left stale. (CI installs protobuf-compiler and libonnx-dev for this.)
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { prerequisite } from "../helpers/prereq.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const protoc = prerequisite("protoc + onnx.proto", () => {
  if (spawnSync("protoc", ["--version"]).status !== 0) return "protoc not found (apt-get install protobuf-compiler)";
  if (!existsSync("/usr/include/onnx/onnx.proto"))
    return "/usr/include/onnx/onnx.proto not found (apt-get install libonnx-dev)";
  return null;
});

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe("proto/gen", () => {
  it.skipIf(protoc.skip)("matches a fresh run of proto/generate.sh", () => {
    protoc.assert();
    const out = mkdtempSync(join(tmpdir(), "cna-proto-"));
    try {
      const r = spawnSync(join(ROOT, "proto", "generate.sh"), [out], { cwd: ROOT, encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const committed = files(join(ROOT, "proto", "gen"))
        .map((f) => relative(join(ROOT, "proto", "gen"), f))
        .sort();
      const fresh = files(out)
        .map((f) => relative(out, f))
        .sort();
      expect(fresh).toEqual(committed);
      for (const f of fresh) {
        expect(
          readFileSync(join(out, f), "utf8") === readFileSync(join(ROOT, "proto", "gen", f), "utf8"),
          `proto/gen/${f} is stale: run npm run proto:gen`,
        ).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
