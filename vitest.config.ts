import { defineConfig } from "vitest/config";

// One suite; folders under test/ say what kind of test it is (unit, golden, integration, ...).
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
