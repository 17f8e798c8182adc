// @ts-check
/**
 * `npm run build`: compiles the runtime folders (tsconfig.build.json: TypeScript's
 * rewriteRelativeImportExtensions turns the sources' `./x.ts` imports into `./x.js`) into dist/,
 * which the `cna` bin runs when it is as new as the sources (cli/fresh-build.js). Besides the
 * JavaScript it puts there what the compiled code reads beside itself at run time: the .proto
 * files server reflection loads (proto/server.ts PROTO_DIR; the worker thread
 * coordinator/blob-writer-thread.mjs is JavaScript and tsc copies it), and cli/help.txt, the
 * general help rendered by the compiled main.js, so that `cna --help` need not load every command.
 * The stamp comes last, dated to when the build began.
 *
 *   node scripts/build.mjs [--out DIR] [--prepare]
 *
 * --out DIR builds elsewhere under the repository (the build's test does). --prepare is how
 * `npm ci` / `npm install` / `npm link` run it: without TypeScript (`npm ci --omit=dev`) it says
 * so and leaves `cna` to run the sources through tsx, instead of failing the install.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { STAMP_FILE } from "../cli/fresh-build.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({ options: { out: { type: "string" }, prepare: { type: "boolean" } } });
const out = resolve(ROOT, values.out ?? "dist");
const started = new Date();

if (relative(ROOT, out).startsWith("..") || out === ROOT)
  fail(`--out must be a folder inside the repository (the compiled code finds package.json above it), got ${out}`);
if (existsSync(out) && readdirSync(out).length > 0 && !existsSync(join(out, STAMP_FILE)))
  fail(`${out} is not empty and holds no ${STAMP_FILE}: not a build of ours, so it is left alone`);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  if (!values.prepare) fail("typescript is not installed (a devDependency: npm ci)");
  console.error(
    "cna-sweep: typescript is not installed (npm ci --omit=dev?), so no build: cna runs the sources through tsx",
  );
  process.exit(0);
}

rmSync(out, { recursive: true, force: true });
const compiled = spawnSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.build.json"), "--outDir", out], {
  stdio: "inherit",
});
if (compiled.status !== 0) fail(`tsc -p tsconfig.build.json failed (exit ${compiled.status ?? compiled.signal})`);

cpSync(join(ROOT, "proto"), join(out, "proto"), {
  recursive: true,
  filter: (src) => !src.startsWith(join(ROOT, "proto", "gen")) && (!/\.\w+$/.test(src) || src.endsWith(".proto")),
});

const main = /** @type {unknown} */ (await import(pathToFileURL(join(out, "cli", "main.js")).href));
if (!rendersHelp(main)) fail("the compiled cli/main.js exports no generalHelp()");
writeFileSync(join(out, "cli", "help.txt"), `${main.generalHelp()}\n`);

const stamp = join(out, STAMP_FILE);
writeFileSync(stamp, `${JSON.stringify({ builtAt: started.toISOString() })}\n`);
utimesSync(stamp, started, started);
console.error(
  `cna-sweep: built ${relative(ROOT, out) || "."}/ in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s`,
);

/** @param {string} message @returns {never} */
function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

/** @param {unknown} m @returns {m is { generalHelp(): string }} */
function rendersHelp(m) {
  return typeof m === "object" && m !== null && "generalHelp" in m && typeof m.generalHelp === "function";
}
