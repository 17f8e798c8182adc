/**
 * The layering holds in the sources: no forbidden import between folders, no import cycle. The
 * checker itself is shown to catch a bad import and a cycle on a small graph.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { importCycles, importGraph, importsOf, layerViolations } from "../helpers/imports.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FOLDERS = ["core", "worker", "coordinator", "transport", "proto", "report", "app", "cli"];

describe("import rules", () => {
  const graph = importGraph(ROOT, FOLDERS);

  it("reads the sources", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get("coordinator/coordinator.ts")).toContain("coordinator/backend.ts");
  });

  it("keeps each folder to the layers below it", () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it("has no import cycle", () => {
    expect(importCycles(graph).map((c) => c.join(" → "))).toEqual([]);
  });

  it("catches a forbidden import and a cycle", () => {
    expect(
      importsOf(
        `import type { X } from "../coordinator/index.ts";\nexport { Y } from "./y.ts";\nimport z from "node:fs";`,
      ),
    ).toEqual(["../coordinator/index.ts", "./y.ts"]);
    const bad = new Map([
      ["worker/a.ts", ["coordinator/index.ts", "worker/b.ts"]],
      ["worker/b.ts", ["worker/a.ts"]],
      ["core/c.ts", ["cli/main.ts"]],
      ["coordinator/index.ts", []],
      ["coordinator/d.ts", ["app/index.ts"]],
      ["app/e.ts", ["cli/main.ts", "worker/a.ts", "coordinator/index.ts"]],
    ]);
    expect(layerViolations(bad)).toEqual([
      "app/e.ts imports cli/main.ts",
      "coordinator/d.ts imports app/index.ts",
      "core/c.ts imports cli/main.ts",
      "worker/a.ts imports coordinator/index.ts",
    ]);
    expect(importCycles(bad)).toEqual([["worker/a.ts", "worker/b.ts", "worker/a.ts"]]);
  });
});
