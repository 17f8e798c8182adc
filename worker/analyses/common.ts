/**
 * Small pieces every analysis uses: the case shape it needs, batching, and reading a logits row.
 */
import type { ModelConfig } from "../model/config.ts";
import { EngineInputError } from "../onnx/errors.ts";
import type { HeadRef } from "../../core/index.ts";

/** What an analysis needs of a case (core's Case satisfies it). */
export interface AnalysisCase {
  /** the case's id within its cell (seeds and per-case results refer to it) */
  id: number;
  prefixIds: readonly number[];
  /** the true answer token */
  target: number;
  /** core's Case carries these; they count the cell's boundary fallbacks (docs/method.md §1) */
  answerIndex?: number;
  boundaryFallback?: boolean;
}

export interface Progress {
  /** Called after each batch with the work done and the total, in the analysis' own unit. */
  (done: number, total: number): void;
}

export function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Index of the largest value; the lowest index among equal maxima (docs/method.md §6). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** softmax(row)[index], computed in float64. */
export function softmaxAt(row: ArrayLike<number>, index: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return Math.exp(row[index]! - max) / sum;
}

/** Row b of a [B, V] logits buffer. */
export function row(data: Float32Array, b: number, width: number): Float32Array {
  return data.subarray(b * width, (b + 1) * width);
}

export function checkHead(shape: ModelConfig, layer: number, head: number): void {
  if (
    !Number.isInteger(layer) ||
    layer < 0 ||
    layer >= shape.nLayer ||
    !Number.isInteger(head) ||
    head < 0 ||
    head >= shape.nHead
  ) {
    throw new EngineInputError(
      "head",
      `head ${layer}.${head} does not exist: the model has layers 0..${shape.nLayer - 1} and heads 0..${shape.nHead - 1}`,
    );
  }
}

export function checkCases(cases: readonly AnalysisCase[], shape: ModelConfig): void {
  if (cases.length === 0) throw new EngineInputError("cases", "no cases to analyse");
  for (const c of cases) {
    if (!Number.isInteger(c.target) || c.target < 0 || c.target >= shape.vocabSize) {
      throw new EngineInputError(
        "target",
        `case ${c.id}: target token ${c.target} is outside the vocabulary (0..${shape.vocabSize - 1})`,
      );
    }
    if (c.prefixIds.length > shape.nPositions) {
      throw new EngineInputError(
        "sequence",
        `case ${c.id}: a prompt of ${c.prefixIds.length} tokens is longer than n_positions = ${shape.nPositions}`,
      );
    }
    if (shape.slidingWindow !== null && c.prefixIds.length > shape.slidingWindow) {
      throw new EngineInputError(
        "sequence",
        `case ${c.id}: a prompt of ${c.prefixIds.length} tokens is longer than sliding_window = ${shape.slidingWindow}`,
      );
    }
  }
}

/** A [B, L, H] head mask of ones with one head per row set to zero (null keeps every head). */
export function headMask(shape: ModelConfig, ablated: ReadonlyArray<HeadRef | null>): Float32Array {
  const { nLayer: L, nHead: H } = shape;
  const mask = new Float32Array(ablated.length * L * H).fill(1);
  ablated.forEach((a, b) => {
    if (a) mask[b * L * H + a.layer * H + a.head] = 0;
  });
  return mask;
}

export function checkNeuron(shape: ModelConfig, layer: number, neuron: number): void {
  if (
    !Number.isInteger(layer) ||
    layer < 0 ||
    layer >= shape.nLayer ||
    !Number.isInteger(neuron) ||
    neuron < 0 ||
    neuron >= shape.dMlp
  ) {
    throw new EngineInputError(
      "neuron",
      `neuron ${layer}_${neuron} does not exist: the model has layers 0..${shape.nLayer - 1} and neurons 0..${shape.dMlp - 1}`,
    );
  }
}
