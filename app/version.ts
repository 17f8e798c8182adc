/**
 * What build this is: the package version, the git commit when known, and the result-format
 * version. Read once per process. The commit comes from $CNA_GIT_COMMIT (set by image builds) or,
 * in a checkout, from git itself; elsewhere it is unknown and left out.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { RESULT_FORMAT_VERSION } from "../core/index.ts";

export interface BuildInfo {
  version: string;
  commit?: string;
  resultFormatVersion: number;
}

let cached: BuildInfo | undefined;
let root: string | undefined;

/**
 * The package's own folder (package.json, examples/, models/): the nearest folder above this
 * module that holds a package.json. One level up from the sources, two from their compiled copy
 * in dist/ (which has no package.json of its own).
 */
export function packageDir(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  root = dir;
  return root;
}

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const version = (JSON.parse(readFileSync(join(packageDir(), "package.json"), "utf8")) as { version: string }).version;
  const commit = process.env.CNA_GIT_COMMIT?.trim() || gitCommit();
  cached = { version, ...(commit ? { commit } : {}), resultFormatVersion: RESULT_FORMAT_VERSION };
  return cached;
}

function gitCommit(): string | undefined {
  try {
    return (
      execFileSync("git", ["rev-parse", "HEAD"], {
        cwd: packageDir(),
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
        timeout: 2000,
      }).trim() || undefined
    );
  } catch {
    return undefined; // not a checkout, or no git: the commit is simply unknown
  }
}
