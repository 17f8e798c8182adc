/**
 * What `cna --version` prints. Its own module, importing types only, so that cli/entry.ts can print
 * it without loading the commands.
 */
import type { BuildInfo } from "../app/index.ts";

export function versionLine(b: BuildInfo): string {
  return `cna-sweep ${b.version}${b.commit ? ` (commit ${b.commit.slice(0, 12)})` : ""}, result format ${b.resultFormatVersion}`;
}
