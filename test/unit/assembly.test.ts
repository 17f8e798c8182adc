/**
 * One composition root per process kind (docs/architecture.md convention 9): the coordinator's run, store,
 * server and the workers are put together in app/ and nowhere else. cli/ parses flags, calls
 * app/ and prints; outside app/, a folder constructs only its own parts.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** What assembles a process, and the folder whose own internals may use it. */
const ASSEMBLY: ReadonlyArray<[RegExp, string]> = [
  [/new SweepRun\b/, "coordinator"],
  [/new SweepStore\b/, "coordinator"],
  [/new Coordinator\b/, "coordinator"],
  [/\bstartSweepServer\b/, "coordinator"],
  [/new CoordinatorMetrics\b/, "coordinator"],
  [/new ShardWorker\b/, "worker"],
  [/new ModelCache\b/, "worker"],
  [/new GrpcResultSink\b/, "worker"],
  [/\bstartWorkerServer\b/, "worker"],
  [/new WorkerMetrics\b/, "worker"],
  [/new MemoryShardQueue\b/, "core"],
  [/\bJetStreamShardQueue\.create\b/, "transport"],
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** "file: pattern" for every use of an assembly pattern in `folder` that the rules do not allow. */
function misplaced(folder: string): string[] {
  return sources(join(ROOT, folder)).flatMap((file) => {
    const text = readFileSync(file, "utf8");
    return ASSEMBLY.filter(([pattern, home]) => home !== folder && pattern.test(text)).map(
      ([pattern]) => `${relative(ROOT, file)}: ${pattern.source}`,
    );
  });
}

describe("assembly", () => {
  it("cli/ constructs no run, store, coordinator, server or worker", () => {
    expect(misplaced("cli")).toEqual([]);
  });

  it("only app/ puts the parts of another folder together", () => {
    expect(["core", "transport", "proto", "report", "worker", "coordinator"].flatMap(misplaced)).toEqual([]);
  });

  it("app/ is where they are put together (a sweep's run and store by the Coordinator it builds)", () => {
    const app = sources(join(ROOT, "app"))
      .map((f) => readFileSync(f, "utf8"))
      .join("\n");
    const built = ASSEMBLY.filter(
      ([p, home]) => (home === "coordinator" || home === "worker") && !/SweepRun|SweepStore/.test(p.source),
    );
    for (const [pattern] of built) expect(app, pattern.source).toMatch(pattern);
  });

  it("finds a construction where it should not be", () => {
    const [pattern] = ASSEMBLY.find(([p]) => p.source.includes("ShardWorker"))!;
    expect(pattern.test("const w = new ShardWorker(queue, sink, models, { id });")).toBe(true);
    expect(pattern.test("import type { ShardWorker } from '../worker/index.ts';")).toBe(false);
  });
});
