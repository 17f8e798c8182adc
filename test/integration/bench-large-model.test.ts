/**
 * `npm run bench -- large-model --quick` end to end in a child process: it writes its checkpoint,
 * runs every part, prints one JSON object with every part's figures, and leaves nothing in its
 * temp dir. Figures are not checked (benchmarks measure, they do not assert).
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runNode } from "../helpers/cli.ts";
import type { CliRun } from "../helpers/cli.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function runBench(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return runNode(["--import", "tsx", "bench/main.ts", ...args], ROOT, env);
}

describe("bench large-model --quick", () => {
  it("prints one JSON object with every part and removes its temp dir", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "cna-bench-test-"));
    try {
      const run = await runBench(["large-model", "--quick", "--layers", "1", "--threads", "1"], {
        ...process.env,
        TMPDIR: tmp,
      });
      expect(run.code, run.stderr).toBe(0);
      const out = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
      expect(out).toMatchObject({
        benchmark: "large-model",
        provider: "cpu",
        model: { preset: "llama-3.2-1b", shape: { nLayer: 1, vocabSize: 128256 }, dtype: "BF16", shards: 2 },
      });
      expect(Object.keys(out.load!)).toEqual(["cold", "warm"]);
      expect(out.load!["cold"]).toMatchObject({
        cache: "cold",
        loadCheckpointSeconds: expect.any(Number),
        runnerSeconds: expect.any(Number),
      });
      expect(out.memory).toMatchObject({
        fp32WeightBytes: expect.any(Number),
        engine: { peakRssBytes: expect.any(Number) },
        wholeRun: { peakRssBytes: expect.any(Number) },
        target: { maxRatio: 2, met: null },
      });
      expect((out.memory!["phases"] as Array<{ phase: string }>).map((p) => p.phase)).toEqual([
        "checkpoint",
        "load-cold",
        "load-warm",
        "head-ablation",
        "cna",
        "attribution-kernel",
      ]);
      expect(out.headAblation).toMatchObject({
        packed: { pairsPerSecond: expect.any(Number) },
        single: { pairsPerSecond: expect.any(Number) },
        agreement: { maxCorrectDiff: 0 },
      });
      expect(out.cna).toMatchObject({ extrapolated: false, wholeModel: { secondsPerCase: expect.any(Number) } });
      expect(out.attributionKernel).toMatchObject({
        summary: { reduceLogSumExpCeiling: expect.any(Number), engineKernelUPrecomputed: expect.any(Number) },
      });
      expect(readdirSync(tmp).filter((e) => !e.startsWith("tsx-"))).toEqual([]); // tsx keeps its compile cache there
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 180_000);
});
