/**
 * The images and the deploy guide stay true to the code (no Docker engine needed):
 * - both Dockerfiles build from node:20 images, install production dependencies only, run as a
 *   numeric non-root user and start `node cli/cna.js`; the worker installs the CUDA 12 provider;
 * - the root .dockerignore lets through every folder the `cna` entry point imports (followed
 *   import by import), so `COPY . .` puts them all in the image;
 * - deploy/README.md's example sweep is a valid sweep over models the worker image carries.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSweep } from "../../core/index.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const read = (path: string): string => readFileSync(join(ROOT, path), "utf8");
const IMPORT = /(?:\bfrom|\bimport)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;

/** Repository files reachable from `entry` through relative imports. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [join(ROOT, entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, "utf8").matchAll(IMPORT)) queue.push(resolve(dirname(file), m[1]!));
  }
  return new Set([...seen].map((f) => relative(ROOT, f)));
}

/** The .dockerignore's verdict on a top-level folder: ignored unless a later `!folder/` re-includes it. */
function letThrough(dockerignore: string, folder: string): boolean {
  let included = true;
  for (const raw of dockerignore.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const negated = line.startsWith("!");
    const pattern = (negated ? line.slice(1) : line).replace(/\/$/, "");
    if (pattern === "*" || pattern === folder) included = negated;
  }
  return included;
}

describe("deploy/docker", () => {
  const files = reachable("cli/cna.js");
  const main = reachable("cli/main.ts");
  const folders = [...new Set([...files, ...main].map((f) => f.split("/")[0]!))].sort();

  it("follows the entry point into the source folders", () => {
    expect(main.has("cli/serve.ts")).toBe(true);
    expect(folders).toEqual(expect.arrayContaining(["cli", "coordinator", "core", "proto", "transport", "worker"]));
    expect(folders.filter((f) => ["test", "bench", "scripts", "node_modules"].includes(f))).toEqual([]);
  });

  it("lets every imported folder, the .proto files and the package files into the build context", () => {
    const dockerignore = read(".dockerignore");
    for (const f of [...folders, "package.json", "package-lock.json", ".npmrc", "tsconfig.json", "models"])
      expect(letThrough(dockerignore, f), `.dockerignore keeps out ${f}`).toBe(true);
    for (const f of [".git", "node_modules", "test", "bench", "scratch"])
      expect(letThrough(dockerignore, f), `.dockerignore lets in ${f}`).toBe(false);
    expect(existsSync(join(ROOT, "proto", "cna", "v1", "sweep.proto"))).toBe(true);
  });

  describe.each(["coordinator", "worker"])("%s.Dockerfile", (name) => {
    const text = read(`deploy/docker/${name}.Dockerfile`);
    const lines = text.split("\n").filter((l) => !l.startsWith("#"));

    it("installs production dependencies with npm ci, then copies the allowlisted sources", () => {
      expect(text).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
      expect(text).toMatch(/npm ci --omit=dev/);
      expect(lines).toContain("COPY --from=deps /app/node_modules ./node_modules");
      expect(lines).toContain("COPY . .");
      expect(lines.indexOf("COPY . .")).toBeGreaterThan(
        lines.indexOf("COPY --from=deps /app/node_modules ./node_modules"),
      );
    });

    it("runs `node cli/cna.js` as a numeric non-root user", () => {
      const user = lines.filter((l) => l.startsWith("USER ")).pop();
      expect(user).toMatch(/^USER [1-9]\d*:[1-9]\d*$/);
      expect(lines).toContain('ENTRYPOINT ["node", "cli/cna.js"]');
      expect(text).toMatch(/^ENV NODE_ENV=production \\\n\s+HOME=\/tmp$/m);
    });
  });

  it("builds the worker on CUDA 12 with the CUDA provider installed at build time", () => {
    const text = read("deploy/docker/worker.Dockerfile");
    expect(text).toMatch(/^ARG CUDA_IMAGE=nvidia\/cuda:12\.[\d.]+-cudnn-runtime-ubuntu22\.04$/m);
    expect(text).toMatch(/^FROM \$\{CUDA_IMAGE\}$/m);
    expect(text).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci --omit=dev/);
    expect(text).toMatch(
      /test -f node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/,
    );
    // the coordinator runs no model: .npmrc's onnxruntime-node-install=skip holds there
    expect(read("deploy/docker/coordinator.Dockerfile")).not.toMatch(/ONNXRUNTIME_NODE_INSTALL/);
    expect(read(".npmrc")).toMatch(/^onnxruntime-node-install=skip$/m);
  });
});

describe("deploy/README.md", () => {
  it("submits an example sweep that parses, over models the worker image carries", () => {
    const block = /<!-- cluster-sweep:begin -->\n```yaml\n([\s\S]*?)```\n<!-- cluster-sweep:end -->/.exec(
      read("deploy/README.md"),
    );
    expect(block, "README has no cluster-sweep block").not.toBeNull();
    const spec = parseSweep(block![1]!, { fileName: "cluster-sweep.yaml" });
    for (const m of spec.models) {
      expect(m.path, `${m.id}: workers see the zoo at /app/models`).toMatch(/^\/app\/models\/[^/]+$/);
      expect(
        existsSync(join(ROOT, "models", m.path.slice("/app/models/".length), "config.json")),
        `${m.path} is not in models/`,
      ).toBe(true);
    }
  });
});
