/**
 * The golden fixtures written by models/reference.py (float64 PyTorch, independent of the
 * TypeScript engine): one file per zoo model under test/fixtures/golden/.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Operator } from "../../core/index.ts";

export const ROOT = join(import.meta.dirname, "..", "..");
export const GOLDEN_DIR = join(ROOT, "test", "fixtures", "golden");
export const ZOO_DIR = join(ROOT, "models");

export interface GoldenCase {
  id: number;
  a: number;
  b: number;
  prompt: string;
  answer: string;
  answerIndex: number;
  prefixIds: number[];
  target: number;
  top1: number;
  correct: boolean;
  probCorrect: number;
  /** top-1 minus second-best logit of the original model */
  margin: number;
  finalScale: number;
}

export interface GoldenHead {
  layer: number;
  head: number;
  accuracy: number;
  accuracyDrop: number;
  relativeDrop: number;
  meanProbCorrect: number;
}

export interface GoldenCell {
  op: Operator;
  digits: 1;
  template: 4;
  cases: GoldenCase[];
  baselineAccuracy: number;
  heads: GoldenHead[];
  topHead: { layer: number; head: number };
  dense: {
    caseIds: number[];
    impOrig: number[][];
    impAblated: number[][];
    cna: number[][];
    coefOrig: number[][];
    coefAblated: number[][];
    attnLayerImp: number[][];
    ffnLayerImp: number[][];
    headImp: number[][];
    /** flat neuron indices of each dense case's top-10 CNA neurons */
    topK: number[][];
  };
  verification: {
    k: number;
    seed: number;
    mask: { accuracy: number; relativeDecrease: number };
    keep: { accuracy: number; relativeDecrease: number };
    random: { accuracy: number; relativeDecrease: number };
  };
}

export interface GoldenModel {
  model: string;
  modelDigest: string;
  shape: { layers: number; heads: number; dModel: number; dMlp: number; vocab: number };
  cells: GoldenCell[];
}

export function goldenModels(): string[] {
  return readdirSync(GOLDEN_DIR)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length))
    .sort();
}

export function loadGolden(model: string): GoldenModel {
  return JSON.parse(readFileSync(join(GOLDEN_DIR, `${model}.json`), "utf8")) as GoldenModel;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
