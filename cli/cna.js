#!/usr/bin/env node
// The `cna` bin. It runs the compiled build (dist/, `npm run build`, which `npm ci`, `npm install`
// and `npm link` run as `prepare`) when that build is as new as the sources, and otherwise the
// TypeScript sources themselves through tsx's loader, so a checkout works with no build step and
// an edited one never runs stale code. Only node:fs and node:url are loaded before that choice:
// tsx alone costs more than the whole compiled `cna --help`. `npm run dev:cna` always takes tsx.
import { fileURLToPath } from "node:url";
import { isFreshBuild } from "./fresh-build.js";

const root = new URL("..", import.meta.url);
if (isFreshBuild(fileURLToPath(root))) {
  await import(new URL("dist/cli/entry.js", root).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  // entry.ts is imported after register(): a static import would be resolved before the loader is.
  await import("./entry.ts");
}
