/**
 * Timing helpers shared by the benchmarks: warm-up then N timed repetitions, median reported,
 * and the facts about the machine a reader needs to compare two runs.
 */
import { cpus, loadavg, platform, release, totalmem } from "node:os";
import * as ort from "onnxruntime-node";

export interface Timing {
  /** Median of the timed repetitions, seconds per call. */
  medianSeconds: number;
  /** Every timed repetition (seconds per call), in run order. */
  timesSeconds: number[];
  /** Calls per repetition: short calls are repeated until a repetition lasts minSampleSeconds. */
  callsPerRep: number[];
  /** The untimed warm-up runs (session builds, first-touch allocations), total. */
  warmupSeconds: number;
}

/** One thing to time. */
export interface Task {
  label: string;
  run: () => Promise<unknown>;
  /** Untimed run before the repetitions (default: `run`); null for none (another task's warms it). */
  warmup?: (() => Promise<unknown>) | null;
}

export interface TimeOptions {
  reps: number;
  /** Repeat a call within one repetition until this much time has passed (0: once). */
  minSampleSeconds: number;
}

export async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One repetition: `fn` once, or again and again until `minSeconds` have passed. */
export async function sample(
  fn: () => Promise<unknown>,
  minSeconds: number,
): Promise<{ perCall: number; calls: number }> {
  const t0 = performance.now();
  let calls = 0;
  do {
    await fn();
    calls++;
  } while ((performance.now() - t0) / 1000 < minSeconds);
  return { perCall: (performance.now() - t0) / 1000 / calls, calls };
}

/**
 * Warms every task up (in order), then times them round-robin — rep 1 of each, rep 2 of each,
 * ... — so figures that are compared with each other see the same background load. The machine
 * these run on may be shared; interleaving keeps the ratios meaningful when the absolute rates
 * drift.
 */
export async function timeInterleaved(tasks: readonly Task[], o: TimeOptions): Promise<Timing[]> {
  const timings: Timing[] = [];
  for (const t of tasks) {
    const warmupSeconds = t.warmup === null ? 0 : await seconds(t.warmup ?? t.run);
    timings.push({ medianSeconds: 0, timesSeconds: [], callsPerRep: [], warmupSeconds });
  }
  for (let rep = 0; rep < o.reps; rep++) {
    for (const [i, t] of tasks.entries()) {
      const s = await sample(t.run, o.minSampleSeconds);
      timings[i]!.timesSeconds.push(s.perCall);
      timings[i]!.callsPerRep.push(s.calls);
      log(`${t.label}: rep ${rep + 1}/${o.reps} ${s.perCall.toFixed(4)} s/call (${s.calls} calls)`);
    }
  }
  for (const t of timings) t.medianSeconds = median(t.timesSeconds);
  return timings;
}

/** Progress and notices go to stderr; stdout carries only the result JSON. */
export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export interface MachineInfo {
  os: string;
  cpus: number;
  cpuModel: string;
  totalMemoryGiB: number;
  node: string;
  onnxruntime: string;
  /** 1-minute load average when the run started (other work on the machine skews timings). */
  loadAverage1m: number;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    os: `${platform()} ${release()}`,
    cpus: list.length,
    cpuModel: list[0]?.model ?? "unknown",
    totalMemoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
    loadAverage1m: loadAverage1m(),
  };
}

export function loadAverage1m(): number {
  return round(loadavg()[0] ?? 0, 2);
}

/** Rounds to `digits` significant-ish decimals for the JSON (keeps it readable). */
export function round(value: number, digits = 4): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const factor = 10 ** Math.max(0, digits - 1 - magnitude);
  return Math.round(value * factor) / factor;
}
