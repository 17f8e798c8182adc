/**
 * The compiled `cna`: `npm run build`'s output runs with plain node, without tsx and without one
 * TypeScript file, through the same bin (cli/cna.js) a user runs; it finds what it reads at run
 * time (package.json, the demo's sweep file, the .proto files, the blob writer's thread); its
 * `--help` is the one the sources print. The build goes to a folder of its own under
 * test/artifacts, so the checkout's dist/ is neither needed nor touched.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildInfo } from "../../app/index.ts";
import { generalHelp } from "../../cli/index.ts";
import { versionLine } from "../../cli/version.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";
import { runNode } from "../helpers/cli.ts";
import type { CliRun } from "../helpers/cli.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BUILD_TIMEOUT_MS = 300_000;

/** A resolve hook that fails any import of tsx or of a .ts file: proof that nothing compiles on the fly. */
const NO_TSX_HOOKS = `export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.includes("/node_modules/tsx/") || /\\.[cm]?ts$/.test(r.url)) throw new Error("compiled cna imported " + r.url);
  return r;
}
`;

function node(args: readonly string[], cwd: string): Promise<CliRun> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // vitest's, or anyone's --import tsx, would hide a build that needs it
  return runNode(args, cwd, env);
}

describe("the compiled cna", () => {
  let base: string; // holds cli/cna.js + cli/fresh-build.js (the bin) and dist/ (the build), as a checkout does
  let work: string;
  let register: string;
  const cna = (args: readonly string[]) => node(["--import", register, join(base, "cli", "cna.js"), ...args], work);

  beforeAll(async () => {
    mkdirSync(join(ROOT, "test", "artifacts"), { recursive: true });
    base = mkdtempSync(join(ROOT, "test", "artifacts", "build-"));
    const built = await node([join(ROOT, "scripts", "build.mjs"), "--out", join(base, "dist")], ROOT);
    expect(built.code, built.stderr).toBe(0);
    mkdirSync(join(base, "cli"));
    for (const f of ["cna.js", "fresh-build.js"]) copyFileSync(join(ROOT, "cli", f), join(base, "cli", f));
    writeFileSync(join(base, "no-tsx-hooks.mjs"), NO_TSX_HOOKS);
    register = join(base, "register.mjs");
    writeFileSync(
      register,
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(base, "no-tsx-hooks.mjs")).href)});\n`,
    );
    work = join(base, "work");
    mkdirSync(work);
  }, BUILD_TIMEOUT_MS);
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("prints the sources' help and version", async () => {
    const help = await cna(["--help"]);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toBe(`${generalHelp()}\n`);
    const version = await cna(["--version"]);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toBe(`${versionLine(buildInfo())}\n`);
    const none = await cna([]);
    expect([none.code, none.stdout, none.stderr]).toEqual([2, "", `${generalHelp()}\n`]);
  });

  it("loads the commands (main.js imports every one)", async () => {
    const demo = await cna(["demo", "--help"]);
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toMatch(/^Usage: cna demo\b[\s\S]*Runs zoo-quick\.yaml/);
  });

  it("runs a sweep (store, blob writer thread) and writes its report", async () => {
    writeGpt2Checkpoint(join(work, "tiny"), { nLayer: 1, nHead: 2, nEmbd: 8 });
    writeFileSync(
      join(work, "sweep.yaml"),
      'name: compiled\nmodels:\n  - path: tiny\noperators: ["+"]\ndigits: [1]\nstages: [head-ablation]\n',
    );
    const run = await cna(["run", "sweep.yaml", "--out", "out", "--quiet"]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(work, "out", "rankings.json"), "utf8")).cells).toHaveLength(1);
    const report = await cna(["report", "--rankings", "out/rankings.json", "-o", "again.html"]);
    expect(report.code, report.stderr).toBe(0);
    expect(readFileSync(join(work, "again.html"), "utf8")).toMatch(/^<!doctype html>/i);
  });

  it("finds the .proto files server reflection loads beside the compiled code", async () => {
    const check = `const { PROTO_DIR } = await import(${JSON.stringify(pathToFileURL(join(base, "dist", "proto", "index.js")).href)});
const { loadSync } = await import("@grpc/proto-loader");
const d = loadSync(["cna/v1/sweep.proto", "cna/v1/worker.proto"], { includeDirs: [PROTO_DIR] });
console.log(Object.keys(d).filter((k) => k.endsWith("Service")).sort().join(" "));`;
    const r = await node(["--import", register, "--input-type=module", "-e", check], ROOT);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("cna.v1.SweepService cna.v1.WorkerService");
  });
});
