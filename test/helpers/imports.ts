/**
 * The import graph of the project's own sources, and the rules docs/architecture.md's layering states:
 * core imports nothing of ours; worker and coordinator never import each other; proto and
 * transport stay below worker, coordinator and cli; app (the composition roots) sits above
 * worker and coordinator and below cli only (LAYER_RULES, in ./layers.js); no file is on an
 * import cycle.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { LAYER_RULES } from "./layers.js";

export { LAYER_RULES };

/** file (relative to the root) → the files of ours it imports or re-exports. */
export type ImportGraph = Map<string, string[]>;

const IMPORT = /^\s*(?:import|export)\s[^;]*?from\s+["'](\.{1,2}\/[^"']+)["']/gm;

export function importGraph(root: string, folders: readonly string[]): ImportGraph {
  const graph: ImportGraph = new Map();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts"))
        graph.set(
          relative(root, path),
          importsOf(readFileSync(path, "utf8")).map((spec) => relative(root, resolve(dirname(path), spec))),
        );
    }
  };
  for (const f of folders) walk(join(root, f));
  return graph;
}

export function importsOf(source: string): string[] {
  return [...source.matchAll(IMPORT)].map((m) => m[1]!);
}

/** "a/b.ts imports c/d.ts" for every import a layer rule forbids. */
export function layerViolations(
  graph: ImportGraph,
  rules: Readonly<Record<string, readonly string[]>> = LAYER_RULES,
): string[] {
  const out: string[] = [];
  for (const [file, imports] of graph) {
    const forbidden = rules[file.split("/")[0]!] ?? [];
    for (const target of imports) if (forbidden.includes(target.split("/")[0]!)) out.push(`${file} imports ${target}`);
  }
  return out.sort();
}

/** Every import cycle, each as the files on it (a → b → … → a), found by depth-first search. */
export function importCycles(graph: ImportGraph): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}
