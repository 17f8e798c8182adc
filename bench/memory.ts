/**
 * This process's memory while a benchmark runs, per named phase: the kernel's peak RSS so far
 * (process.resourceUsage().maxRSS, read when a phase ends) and RSS and PSS sampled from /proc on a
 * worker thread, so samples keep coming while the main thread is busy in synchronous code.
 *
 * RSS counts a page of a mapped file once per mapping of it: two ONNX Runtime sessions that map
 * the same weight file count its pages twice, though they share the memory. PSS (Linux) counts a
 * page shared by n mappings 1/n in each, so one copy of the weights counts once however many
 * sessions map it: the figure that shows whether a second copy exists.
 *
 * @example
 * ```ts
 * await using memory = MemorySampler.start();
 * await memory.phase("load", () => loadCheckpoint(dir));
 * memory.figures(); // { phases: [{ phase: "load", peakRssBytes, peakPssBytes, maxRssSoFarBytes, ... }], ... }
 * ```
 */
import { Worker } from "node:worker_threads";
import { round } from "./timing.ts";

/** Runs on the sampling thread: /proc/self is the whole process from any of its threads. */
const SAMPLER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { readFileSync } = require("node:fs");
const kib = (path, key) => {
  try {
    const m = new RegExp(key + ":\\\\s+(\\\\d+) kB").exec(readFileSync(path, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
};
const sample = () => parentPort.postMessage({
  at: Date.now(),
  rss: kib("/proc/self/status", "VmRSS") ?? process.memoryUsage.rss(),
  pss: kib("/proc/self/smaps_rollup", "Pss"),
});
sample();
setInterval(sample, workerData.intervalMs);
`;

interface Sample {
  at: number;
  rss: number;
  pss: number | null;
}

export interface PhaseMemory {
  phase: string;
  seconds: number;
  /** Largest sampled RSS while the phase ran (sampling misses peaks shorter than the interval). */
  peakRssBytes: number | null;
  /** Largest sampled PSS while the phase ran; null where /proc/self/smaps_rollup is missing. */
  peakPssBytes: number | null;
  /** The kernel's peak RSS of the process up to the end of this phase (exact, cumulative). */
  maxRssSoFarBytes: number;
}

export interface MemoryFigures {
  sampleIntervalMs: number;
  samples: number;
  phases: PhaseMemory[];
  /** The largest PSS sampled in any phase. */
  peakPssBytes: number | null;
  /** process.resourceUsage().maxRSS now. */
  maxRssBytes: number;
}

export class MemorySampler implements AsyncDisposable {
  private readonly samples: Sample[] = [];
  private readonly phases: Array<{ phase: string; from: number; to: number; maxRss: number }> = [];
  private stopped = false;

  private constructor(
    private readonly worker: Worker,
    readonly intervalMs: number,
  ) {
    worker.on("message", (s: Sample) => this.samples.push(s));
    worker.unref();
  }

  static start(intervalMs = 500): MemorySampler {
    return new MemorySampler(new Worker(SAMPLER_SOURCE, { eval: true, workerData: { intervalMs } }), intervalMs);
  }

  /** Runs `fn` as the phase `name`; its window is recorded even when it throws. */
  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const from = Date.now();
    try {
      return await fn();
    } finally {
      this.phases.push({ phase: name, from, to: Date.now(), maxRss: maxRssBytes() });
    }
  }

  /** Phases so far. Samples still queued for the main thread are not in yet: call after stop() for all. */
  figures(): MemoryFigures {
    const phases = this.phases.map((p): PhaseMemory => {
      // a sample taken up to one interval after the phase ended may still show its peak; not one before it began
      const inside = this.samples.filter((s) => s.at >= p.from && s.at <= p.to + this.intervalMs);
      const peak = (values: Array<number | null>) =>
        values.some((v) => v !== null) ? Math.max(...values.filter((v): v is number => v !== null)) : null;
      return {
        phase: p.phase,
        seconds: round((p.to - p.from) / 1000),
        peakRssBytes: peak(inside.map((s) => s.rss)),
        peakPssBytes: peak(inside.map((s) => s.pss)),
        maxRssSoFarBytes: p.maxRss,
      };
    });
    const pss = phases.map((p) => p.peakPssBytes).filter((v): v is number => v !== null);
    return {
      sampleIntervalMs: this.intervalMs,
      samples: this.samples.length,
      phases,
      peakPssBytes: pss.length > 0 ? Math.max(...pss) : null,
      maxRssBytes: maxRssBytes(),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // let samples already posted reach this thread before the worker goes
    await new Promise((resolve) => setImmediate(resolve));
    await this.worker.terminate();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** The process's peak RSS so far, in bytes (resourceUsage reports KiB). */
export function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
