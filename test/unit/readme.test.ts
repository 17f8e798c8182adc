/**
 * The README stays true: its zoo table is the one the model cards give, and its commands are the
 * ones CI and package.json use.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadCards, renderZooTable } from "../../scripts/zoo-table.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

describe("README", () => {
  it("shows the zoo table rendered from the model cards (node --import tsx scripts/zoo-table.ts)", () => {
    const block = /<!-- zoo-table:begin -->\n([\s\S]*?)\n<!-- zoo-table:end -->/.exec(readme);
    expect(block, "README has no zoo-table block").not.toBeNull();
    expect(block![1]).toBe(renderZooTable(loadCards(join(ROOT, "models"))));
  });

  it("gives the test command CI runs and the demo command", () => {
    expect(readme).toMatch(/^npm test\b/m);
    expect(readFileSync(join(ROOT, ".ci", "run"), "utf8")).toMatch(/^npm test$/m);
    expect(readme).toMatch(/npx cna demo/);
  });
});
