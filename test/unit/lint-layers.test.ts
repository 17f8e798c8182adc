/**
 * ESLint enforces the layering as well as the import-graph test (imports.test.ts): eslint.config.js
 * turns LAYER_RULES into no-restricted-imports rules. A deliberately bad import, linted as a file
 * of the layer's folder or of a subfolder, fails; the imports the layers allow pass.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, it } from "vitest";
import { LAYER_RULES } from "../helpers/layers.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

// The files linted here exist only in memory, and import rules need no type information.
const eslint = new ESLint({ cwd: ROOT, overrideConfig: tseslint.configs.disableTypeChecked });

/** The layer errors ESLint reports for `source` as the file `path` (relative to the root). */
async function layerErrors(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: join(ROOT, path) });
  return result!.messages.filter((m) => m.ruleId === "no-restricted-imports" && m.severity === 2).map((m) => m.message);
}

describe("ESLint's layer rules", () => {
  it("fail core/ importing worker/", async () => {
    const errors = await layerErrors(
      "core/bad.ts",
      `import { ShardWorker } from "../worker/index.ts";\nexport const w = ShardWorker;\n`,
    );
    expect(errors).toEqual([expect.stringContaining("core/ must not import worker/, coordinator/, app/, cli/")]);
  });

  it("fail every import LAYER_RULES forbids, from a layer's folder and from a subfolder of it", async () => {
    const cases = Object.entries(LAYER_RULES).flatMap(([layer, forbidden]) =>
      forbidden.flatMap((target) => [
        { path: `${layer}/bad.ts`, spec: `../${target}/index.ts` },
        { path: `${layer}/sub/bad.ts`, spec: `../../${target}/x/y.ts` },
      ]),
    );
    expect(cases.length).toBeGreaterThan(50);
    const missed: string[] = [];
    for (const { path, spec } of cases) {
      if ((await layerErrors(path, `import { x } from "${spec}";\nexport { x };\n`)).length !== 1)
        missed.push(`${path} → ${spec}`);
    }
    expect(missed).toEqual([]);
  });

  it("fail type-only imports and re-exports too", async () => {
    expect(
      await layerErrors(
        "worker/runtime/bad.ts",
        `import type { Coordinator } from "../../coordinator/index.ts";\nexport type C = Coordinator;\n`,
      ),
    ).toHaveLength(1);
    expect(
      await layerErrors("coordinator/grpc/bad.ts", `export { ShardWorker } from "../../worker/index.ts";\n`),
    ).toHaveLength(1);
    expect(await layerErrors("report/bad.ts", `export * as app from "../app/index.ts";\n`)).toHaveLength(1);
  });

  it("pass the imports the layers allow", async () => {
    const allowed: [string, string][] = [
      ["core/ok.ts", "./errors.ts"],
      ["worker/model/ok.ts", "../../core/index.ts"],
      ["worker/model/ok.ts", "../onnx/index.ts"],
      ["coordinator/grpc/ok.ts", "../../proto/index.ts"],
      ["app/ok.ts", "../worker/index.ts"],
      ["app/ok.ts", "../coordinator/index.ts"],
      ["cli/ok.ts", "../app/index.ts"],
      ["report/ok.ts", "../core/index.ts"],
      ["test/unit/ok.ts", "../../worker/index.ts"],
    ];
    for (const [path, spec] of allowed)
      expect(await layerErrors(path, `import { x } from "${spec}";\nexport { x };\n`), `${path} → ${spec}`).toEqual([]);
  });
});
