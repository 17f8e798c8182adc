/**
 * The shapes figures take in the JSON: a throughput with its timings, and a ratio against a
 * target.
 */
import { round } from "./timing.ts";
import type { Timing } from "./timing.ts";

export interface Ratio {
  value: number;
  target: number | null;
  targetMet: boolean | null;
}

export function ratio(value: number, target: number | null): Ratio {
  return { value: round(value, 3), target, targetMet: target === null ? null : value >= target };
}

export interface RateFigure extends Timing {
  neuronCases: number;
  neuronCasesPerSecond: number;
}

/** A timing of work worth `neuronCases` neuron·cases per call, rounded for the JSON. */
export function rateFigure(t: Timing, neuronCases: number): RateFigure {
  return {
    medianSeconds: round(t.medianSeconds),
    timesSeconds: t.timesSeconds.map((x) => round(x)),
    callsPerRep: t.callsPerRep,
    warmupSeconds: round(t.warmupSeconds),
    neuronCases,
    neuronCasesPerSecond: round(neuronCases / t.medianSeconds),
  };
}
