// @ts-check
/**
 * The layering docs/architecture.md states, as folder → the folders of ours it must not import:
 * core imports nothing of ours; worker and coordinator never import each other; proto and
 * transport stay below worker, coordinator, app and cli; report reads only core; only cli imports
 * app. One list for both checks that enforce it: test/unit/imports.test.ts (the import graph,
 * ./imports.ts) and ESLint (no-restricted-imports, eslint.config.js), which is why it is
 * JavaScript.
 */

/** @type {Readonly<Record<string, readonly string[]>>} */
export const LAYER_RULES = {
  core: ["worker", "coordinator", "app", "cli", "transport", "proto", "report"],
  worker: ["coordinator", "app", "cli", "report"],
  coordinator: ["worker", "app", "cli"],
  transport: ["worker", "coordinator", "app", "cli", "report"],
  proto: ["worker", "coordinator", "app", "cli", "transport", "report"],
  report: ["worker", "coordinator", "app", "cli", "transport", "proto"],
  app: ["cli"],
};
