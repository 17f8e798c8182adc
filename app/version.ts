/**
 * What build this is: the package version, the git commit when known, and the result-format
 * version. Read once per process. The commit comes from $CNA_GIT_COMMIT (set by image builds) or,
 * in a checkout, from git itself; elsewhere it is unknown and left out.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { RESULT_FORMAT_VERSION } from "../core/index.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));

export interface BuildInfo {
  version: string;
  commit?: string;
  resultFormatVersion: number;
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string })
    .version;
  const commit = process.env.CNA_GIT_COMMIT?.trim() || gitCommit();
  cached = { version, ...(commit ? { commit } : {}), resultFormatVersion: RESULT_FORMAT_VERSION };
  return cached;
}

function gitCommit(): string | undefined {
  try {
    return (
      execFileSync("git", ["rev-parse", "HEAD"], {
        cwd: REPO,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
        timeout: 2000,
      }).trim() || undefined
    );
  } catch {
    return undefined; // not a checkout, or no git: the commit is simply unknown
  }
}
