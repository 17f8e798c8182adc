// @ts-check
/**
 * Whether the compiled build (dist/, `npm run build`) is as new as the sources it was compiled
 * from, so that the `cna` bin may run it instead of compiling the sources through tsx. Plain
 * JavaScript that imports only node:fs and node:path: it runs on every start, before anything
 * else is loaded, and costs a few milliseconds (one stat per source file).
 *
 * The build writes `.build-stamp` last and dates it to when it began; the build is fresh when no
 * file under the folders tsconfig.build.json compiles, and neither tsconfig, changed after that.
 * An interrupted build has no stamp, so it is never used.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export const STAMP_FILE = ".build-stamp";

/**
 * @param {string} root the package root (holds tsconfig.build.json and the source folders)
 * @param {string} outDir the build's folder under root
 * @returns {boolean}
 */
export function isFreshBuild(root, outDir = "dist") {
  const built = mtimeMs(join(root, outDir, STAMP_FILE));
  if (built === undefined) return false;
  for (const file of ["tsconfig.json", "tsconfig.build.json"]) {
    const m = mtimeMs(join(root, file));
    if (m !== undefined && m > built) return false;
  }
  for (const folder of compiledFolders(root)) {
    let entries;
    try {
      entries = readdirSync(join(root, folder), { recursive: true, withFileTypes: true });
    } catch {
      continue; // a folder that is not there has nothing newer than the build
    }
    for (const e of entries) {
      if (!e.isFile()) continue;
      // parentPath is Node >= 20.12; path is the same field under its older name
      const m = mtimeMs(join(e.parentPath ?? e.path, e.name));
      if (m !== undefined && m > built) return false;
    }
  }
  return true;
}

/** @param {string} root @returns {string[]} the folders tsconfig.build.json compiles (none without it) */
function compiledFolders(root) {
  let text;
  try {
    text = readFileSync(join(root, "tsconfig.build.json"), "utf8");
  } catch {
    return []; // an installed copy without the build's config: only the build is there to run
  }
  /** @type {unknown} */
  const config = JSON.parse(text);
  const include = typeof config === "object" && config !== null && "include" in config ? config.include : [];
  return Array.isArray(include) ? include.filter((f) => typeof f === "string") : [];
}

/** @param {string} path @returns {number | undefined} */
function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}
