/** What Describe and provenance report as the build: the package version, the commit, the result format. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildInfo } from "../../app/index.ts";
import { main } from "../../cli/index.ts";
import type { CliIo } from "../../cli/index.ts";
import { RESULT_FORMAT_VERSION } from "../../core/index.ts";
import { availableProviders } from "../../worker/index.ts";

describe("buildInfo", () => {
  it("is the package's version (not Node's), the checkout's commit and the result-format version", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    const info = buildInfo();
    expect(info.version).toBe(pkg.version);
    expect(info.version).not.toBe(process.version);
    expect(info.resultFormatVersion).toBe(RESULT_FORMAT_VERSION);
    const head =
      process.env.CNA_GIT_COMMIT?.trim() || execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    expect(info.commit).toBe(head);
  });

  it("is what cna --version prints", async () => {
    const out: string[] = [];
    const io = {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => out.push(s) },
    } as unknown as CliIo;
    expect(await main(["--version"], io)).toBe(0);
    const b = buildInfo();
    expect(out.join("")).toBe(
      `cna-sweep ${b.version}${b.commit ? ` (commit ${b.commit.slice(0, 12)})` : ""}, result format ${b.resultFormatVersion}\n`,
    );
  });

  it("lists the execution providers, cpu first", () => {
    const providers = availableProviders();
    expect(providers[0]).toBe("cpu");
    expect(providers.some((p) => p.startsWith("cuda"))).toBe(true);
  });
});
