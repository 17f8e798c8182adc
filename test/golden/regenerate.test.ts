/**
 * The golden fixtures are reproducible: models/reference.py, run again into a temp dir, writes
 * the committed files byte for byte: the zoo's, and the family fixtures made from random
 * checkpoints by scripts/golden-families.ts (generator → cases from the engine's tokenizer →
 * reference.py --families). (CI installs python3-torch for this.)
 */
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FAMILY_GOLDENS, regenerateFamilyGoldens } from "../../scripts/golden-families.ts";
import { GOLDEN_DIR, goldenModels, ROOT } from "../helpers/golden.ts";
import { FAMILY_GOLDEN_DIR, familyGoldenNames } from "../helpers/golden-families.ts";
import { PYTHON, torchPrerequisite } from "../helpers/prereq.ts";

const torch = torchPrerequisite();

describe("golden fixtures", () => {
  it("exist for every zoo model", () => {
    expect(goldenModels()).toEqual(["arith-2l-d64", "arith-3l-d96", "arith-4l-d128"]);
  });

  it.skipIf(torch.skip)(
    "regenerate byte-for-byte from models/reference.py",
    () => {
      torch.assert();
      const out = mkdtempSync(join(tmpdir(), "cna-golden-"));
      try {
        const r = spawnSync(PYTHON, [join(ROOT, "models", "reference.py"), "--out", out], {
          encoding: "utf8",
          timeout: 600_000,
        });
        expect(r.status, r.stderr).toBe(0);
        for (const name of goldenModels()) {
          const fresh = readFileSync(join(out, `${name}.json`));
          const committed = readFileSync(join(GOLDEN_DIR, `${name}.json`));
          expect(fresh.equals(committed), `${name}.json differs from a fresh run of models/reference.py`).toBe(true);
        }
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
    600_000,
  );

  it.skipIf(torch.skip)(
    "family fixtures regenerate byte-for-byte from their random checkpoints",
    () => {
      torch.assert();
      expect(familyGoldenNames()).toEqual(FAMILY_GOLDENS.map((s) => s.name).sort());
      const out = mkdtempSync(join(tmpdir(), "cna-golden-families-"));
      try {
        regenerateFamilyGoldens(out);
        for (const name of familyGoldenNames()) {
          const fresh = readFileSync(join(out, `${name}.json`));
          const committed = readFileSync(join(FAMILY_GOLDEN_DIR, `${name}.json`));
          expect(
            fresh.equals(committed),
            `families/${name}.json differs from a fresh run of scripts/golden-families.ts`,
          ).toBe(true);
        }
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
    600_000,
  );
});
