#!/usr/bin/env node
// The `cna` bin. tsx's loader compiles the TypeScript sources on import, so `npx cna ...` works
// straight from a checkout with no build step. main.ts is imported dynamically because a static
// import would be resolved before register() has installed the loader.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
process.exitCode = await main(process.argv.slice(2));
