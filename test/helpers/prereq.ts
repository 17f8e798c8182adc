/**
 * Tests that need something outside node_modules (python3-torch, nats-server, prometheus,
 * chromium) say so here. Locally a missing prerequisite skips the test with its reason printed;
 * under CI=true the test runs and fails with that reason, so CI never passes by skipping.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export interface Prerequisite {
  /** true when the test should be skipped (missing, and not in CI) */
  skip: boolean;
  /** null when present; otherwise what is missing and how to install it */
  missing: string | null;
  /** call at the start of the test: throws the reason in CI when missing */
  assert(): void;
}

export function prerequisite(name: string, check: () => string | null): Prerequisite {
  const missing = check();
  const inCi = process.env.CI === "true";
  if (missing && !inCi) process.stderr.write(`skipping ${name}: ${missing}\n`);
  return {
    skip: missing !== null && !inCi,
    missing,
    assert() {
      if (missing) throw new Error(`${name}: ${missing}`);
    },
  };
}

export const PYTHON = process.env.CNA_PYTHON ?? "/usr/bin/python3";

/** Debian's python3-torch under /usr/bin/python3 (the golden oracle's interpreter). */
export function torchPrerequisite(): Prerequisite {
  return prerequisite("python3-torch", () => {
    if (!existsSync(PYTHON)) return `${PYTHON} not found (apt-get install python3-torch libopenblas0-pthread)`;
    const r = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" });
    return r.status === 0 ? null : `${PYTHON} cannot import torch (apt-get install python3-torch libopenblas0-pthread)`;
  });
}
