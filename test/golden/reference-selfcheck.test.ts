/**
 * The family oracle's self-check has teeth: models/reference.py --mutants runs decoders.py's
 * forward with one layout misread at a time (rotary pairs of the other layout, rotary on the
 * whole head where it is partial, rope_scaling ignored, the wrong key/value head under GQA,
 * GPT-NeoX's fused q|k|v read as three blocks, Qwen3's q/k norm skipped) and reports whether
 * decoders_check's loop-free forward disagrees. Every misreading must be caught, and the
 * unmutated forward must agree (the script fails otherwise).
 */
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PRESETS, writeRandomCheckpoint } from "../../scripts/random-checkpoint.ts";
import type { RandomCheckpointOptions } from "../../scripts/random-checkpoint.ts";
import { ROOT } from "../helpers/golden.ts";
import { PYTHON, torchPrerequisite } from "../helpers/prereq.ts";

const torch = torchPrerequisite();
const work = mkdtempSync(join(tmpdir(), "cna-mutants-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** checkpoint → the misreadings that apply to it */
const CASES: Array<[RandomCheckpointOptions, string[]]> = [
  [
    {
      family: "llama",
      heads: 4,
      kvHeads: 2,
      ropeScaling: {
        type: "llama3",
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 64,
      },
    },
    ["rotary pairs of the other layout", "rope_scaling ignored", "query head h reads kv head h % KV"],
  ],
  [
    { family: "qwen3", heads: 4, kvHeads: 2, headDim: 12 },
    ["rotary pairs of the other layout", "query head h reads kv head h % KV", "q/k norm skipped"],
  ],
  [
    { family: "gpt_neox", heads: 4, rotaryPct: 0.5 },
    ["rotary pairs of the other layout", "rotary on every dim of the head", "query_key_value read as q, k, v blocks"],
  ],
  [{ family: "gptj", heads: 4, rotaryDim: 4 }, ["rotary pairs of the other layout", "rotary on every dim of the head"]],
];

describe("family oracle self-check", () => {
  it.skipIf(torch.skip)(
    "catches every misread layout",
    () => {
      torch.assert();
      const dirs = CASES.map(([options], i) => writeRandomCheckpoint(join(work, `m${i}`), options).dir);
      const r = spawnSync(PYTHON, [join(ROOT, "models", "reference.py"), "--mutants", ...dirs], {
        encoding: "utf8",
        timeout: 120_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const rows = r.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { model: string; mutation: string; caught: boolean });
      CASES.forEach(([options], i) => {
        const mine = rows.filter((row) => row.model === dirs[i]);
        expect(mine.map((row) => row.mutation).sort(), options.family).toEqual([...CASES[i]![1]].sort());
        for (const row of mine) expect(row.caught, `${options.family}: ${row.mutation}`).toBe(true);
      });
    },
    120_000,
  );

  it.skipIf(torch.skip)(
    "reads every small preset of the generator and agrees with itself on it",
    () => {
      torch.assert();
      const names = Object.keys(PRESETS).filter((name) => name !== "gpt2" && name !== "llama-3.2-1b"); // the zoo's oracle covers gpt2
      const dirs = names.map((name) => writeRandomCheckpoint(join(work, name), PRESETS[name]!).dir);
      const r = spawnSync(PYTHON, [join(ROOT, "models", "reference.py"), "--mutants", ...dirs], {
        encoding: "utf8",
        timeout: 120_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const rows = r.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { model: string; mutation: string; caught: boolean });
      for (const dir of dirs) expect(rows.filter((row) => row.model === dir).length, dir).toBeGreaterThan(0);
      for (const row of rows) expect(row.caught, `${row.model}: ${row.mutation}`).toBe(true);
    },
    120_000,
  );
});
