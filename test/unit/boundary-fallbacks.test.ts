/**
 * The cell's `boundaryFallbacks` count (docs/method.md §1): carried by each shard's partial for its
 * own pairs, added up when shards merge, written into rankings.json only when it is not 0 (so
 * cells without any keep their bytes), and counted by `cna analyze` too.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  RANKINGS_SCHEMA,
  buildCases,
  buildCellRankings,
  countBoundaryFallbacks,
  mergeAll,
  mergePartials,
  operandPairs,
  pairAt,
} from "../../core/index.ts";
import type { HeadAblationPartial, ShardTask } from "../../core/index.ts";
import { ModelCache, ModelRunner, analyzeCell, executeShard, loadCheckpoint } from "../../worker/index.ts";
import type { Checkpoint } from "../../worker/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";
import type { TensorSpec } from "../helpers/checkpoint.ts";
import { rankingsSchemaErrors } from "../helpers/rankings-schema.ts";
import { gpt2StyleTokenizerJson, writeGpt2StyleTokenizer } from "../helpers/tokenizers.ts";

const dims = { nLayer: 1, nHead: 2, dMlp: 4 };
const part = (cases: number, boundaryFallbacks?: number): HeadAblationPartial => ({
  kind: "head-ablation",
  dims,
  cases,
  baselineCorrect: 1,
  baselineProbSum: 0.5,
  correct: [1, 0],
  probSum: [0.5, 0.25],
  ...(boundaryFallbacks === undefined ? {} : { boundaryFallbacks }),
});

describe("boundaryFallbacks in partials and rankings", () => {
  it("adds up across shards, and stays absent when no shard has any", () => {
    expect(mergePartials(part(3, 2), part(4, 3)).boundaryFallbacks).toBe(5);
    expect(mergePartials(part(3), part(4, 1)).boundaryFallbacks).toBe(1);
    expect(mergeAll([part(1, 1), part(1), part(1, 2)]).boundaryFallbacks).toBe(3);
    expect("boundaryFallbacks" in mergePartials(part(3), part(4))).toBe(false);
  });

  it("is written after baselineAccuracy when not 0, left out otherwise, and the schema documents it", () => {
    const key = { model: "m", op: "-", digits: 1, template: 4 } as const;
    const counted = buildCellRankings(key, { headAblation: part(2, 1) });
    expect(Object.keys(counted).slice(0, 7)).toEqual([
      "model",
      "op",
      "digits",
      "template",
      "cases",
      "baselineAccuracy",
      "boundaryFallbacks",
    ]);
    expect(counted.boundaryFallbacks).toBe(1);
    expect(rankingsSchemaErrors({ schema: RANKINGS_SCHEMA, cells: [counted] })).toEqual([]);
    const none = buildCellRankings(key, { headAblation: part(2) });
    expect("boundaryFallbacks" in none).toBe(false);
    expect(rankingsSchemaErrors({ schema: RANKINGS_SCHEMA, cells: [{ ...none, boundaryFallbacks: 0 }] })).not.toEqual(
      [],
    );
  });
});

describe("boundaryFallbacks counted by a worker (GPT-2 checkpoint with a GPT-2-layout byte-level tokenizer)", () => {
  const scratch = mkdtempSync(join(tmpdir(), "cna-fallbacks-"));
  const dir = join(scratch, "bytes-2l");
  let ck: Checkpoint;
  const models = new ModelCache();

  beforeAll(async () => {
    const vocabSize = Object.keys((gpt2StyleTokenizerJson()["model"] as { vocab: object }).vocab).length + 1;
    writeGpt2Checkpoint(dir, {
      config: { vocab_size: vocabSize },
      edit: (t: Record<string, TensorSpec>) => {
        const data = new Float32Array(vocabSize * 8).map((_, i) => Math.sin(i) * 0.1);
        t["transformer.wte.weight"] = { shape: [vocabSize, 8], data };
      },
    });
    writeGpt2StyleTokenizer(dir);
    ck = await loadCheckpoint(dir);
  });
  afterAll(async () => {
    await models.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  const task = (start: number, end: number): ShardTask => ({
    sweepId: "s",
    stage: "head-ablation",
    topK: 1,
    target: "predicted",
    versions: { resultFormat: 1, method: 1 },
    cell: { model: "bytes-2l", modelPath: dir, modelDigest: ck.digest, op: "-", digits: 1, template: 4 },
    pairs: { sample: "all", seed: 0, start, end },
  });

  it("each shard counts its own pairs; merged in shard order they give the whole cell's count", async () => {
    const whole = countBoundaryFallbacks(buildCases(operandPairs("-", 1), 4, ck.tokenizer));
    expect(whole).toBe(45); // "=-" straddles every negative result
    const ranges: Array<[number, number]> = [
      [0, 30],
      [30, 71],
      [71, 100],
    ];
    const parts: HeadAblationPartial[] = [];
    for (const [start, end] of ranges) {
      const p = (await executeShard(task(start, end), models)) as HeadAblationPartial;
      // a pair a-b (first operand major) is negative when a < b
      let negative = 0;
      for (let i = start; i < end; i++) negative += pairAt("-", 1, i).a < pairAt("-", 1, i).b ? 1 : 0;
      expect(p.boundaryFallbacks ?? 0, `[${start}, ${end})`).toBe(negative);
      parts.push(p);
    }
    const cell = buildCellRankings(
      { model: "bytes-2l", op: "-", digits: 1, template: 4 },
      { headAblation: mergeAll(parts) },
    );
    expect(cell.boundaryFallbacks).toBe(whole);
    expect(rankingsSchemaErrors({ schema: RANKINGS_SCHEMA, cells: [cell] })).toEqual([]);
    // a cell without any: "+" has no straddling token
    expect(
      "boundaryFallbacks" in (await executeShard({ ...task(0, 100), cell: { ...task(0, 100).cell, op: "+" } }, models)),
    ).toBe(false);
  });

  it("cna analyze's one-process cell counts them too", async () => {
    const runner = new ModelRunner("bytes-2l", ck.config, ck.weights);
    try {
      const cases = buildCases(operandPairs("-", 1), 4, ck.tokenizer);
      const cell = await analyzeCell(
        runner,
        ck.tokenizer,
        { model: "bytes-2l", op: "-", digits: 1, template: 4 },
        cases,
        { analysis: "head-ablation" },
      );
      expect(cell.boundaryFallbacks).toBe(45);
    } finally {
      await runner.close();
    }
  });
});
