/**
 * cli/fresh-build.js, the `cna` bin's choice between the compiled build and the sources through
 * tsx: the build is used only when it has its stamp and nothing it was compiled from is newer.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { STAMP_FILE, isFreshBuild } from "../../cli/fresh-build.js";

const BUILT = new Date("2026-01-02T03:04:05Z");
const BEFORE = new Date(BUILT.getTime() - 60_000);
const AFTER = new Date(BUILT.getTime() + 60_000);

describe("isFreshBuild", () => {
  let root: string;
  const write = (path: string, when: Date, text = "x") => {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
    utimesSync(join(root, path), when, when);
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "cna-fresh-"));
    write("tsconfig.json", BEFORE, "{}");
    write("tsconfig.build.json", BEFORE, JSON.stringify({ include: ["core", "cli"] }));
    write("core/a.ts", BEFORE);
    write("cli/deep/b.ts", BEFORE);
    write("test/c.test.ts", AFTER); // not compiled: no reason to rebuild
    write(`dist/${STAMP_FILE}`, BUILT);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("is fresh when nothing compiled changed after the build began", () => {
    expect(isFreshBuild(root)).toBe(true);
  });

  it("is stale when a source file, however deep, is newer than the stamp", () => {
    write("cli/deep/b.ts", AFTER);
    expect(isFreshBuild(root)).toBe(false);
  });

  it("is stale when either tsconfig is newer", () => {
    write("tsconfig.build.json", AFTER, JSON.stringify({ include: ["core", "cli"] }));
    expect(isFreshBuild(root)).toBe(false);
    write("tsconfig.build.json", BEFORE, JSON.stringify({ include: ["core", "cli"] }));
    write("tsconfig.json", AFTER, "{}");
    expect(isFreshBuild(root)).toBe(false);
  });

  it("is never fresh without the stamp (no build, or one that did not finish)", () => {
    rmSync(join(root, "dist", STAMP_FILE));
    expect(isFreshBuild(root)).toBe(false);
  });

  it("uses the build of an installed copy that has no sources or build config", () => {
    for (const p of ["core", "cli", "tsconfig.json", "tsconfig.build.json"])
      rmSync(join(root, p), { recursive: true, force: true });
    expect(isFreshBuild(root)).toBe(true);
  });
});
