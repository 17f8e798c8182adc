/** `npm run bench -- large-model` flags: defaults, --quick, and errors that name the flag. */
import { describe, expect, it } from "vitest";
import { parseLargeModelArgs } from "../../bench/large-model-options.ts";

const thrown = (argv: string[]): { code?: string; field?: string; message: string } => {
  try {
    parseLargeModelArgs(argv);
  } catch (err) {
    return err as { code?: string; field?: string; message: string };
  }
  throw new Error(`${argv.join(" ")} was accepted`);
};

describe("large-model bench flags", () => {
  it("default to Llama-3.2-1B's 16 layers and a bounded amount of work", () => {
    expect(parseLargeModelArgs([])).toEqual({
      help: false,
      quick: false,
      layers: 16,
      headCases: 2,
      singleHeads: 4,
      cnaCases: 2,
      cnaLayers: 1,
      reps: 3,
      threads: 0,
      keepDir: null,
      prepack: false,
    });
  });

  it("take --quick's tiny shape, and flags over it", () => {
    expect(parseLargeModelArgs(["--quick"])).toMatchObject({
      quick: true,
      layers: 2,
      headCases: 1,
      cnaCases: 1,
      reps: 1,
    });
    expect(
      parseLargeModelArgs(["--quick", "--layers", "3", "--cna-layers", "3", "--keep", "/tmp/x", "--prepack"]),
    ).toMatchObject({ layers: 3, cnaLayers: 3, keepDir: "/tmp/x", prepack: true });
    expect(parseLargeModelArgs(["-h"]).help).toBe(true);
  });

  it("refuse bad values, naming the flag", () => {
    expect(thrown(["--layers", "0"])).toMatchObject({
      code: "BAD_BENCH_ARGS",
      field: "--layers",
      message: expect.stringMatching(/from 1 to 64/),
    });
    expect(thrown(["--reps", "1.5"])).toMatchObject({ field: "--reps" });
    expect(thrown(["--layers", "2", "--cna-layers", "3"])).toMatchObject({
      field: "--cna-layers",
      message: expect.stringMatching(/cannot exceed the model's layers \(2\)/),
    });
    expect(thrown(["--keep", ""])).toMatchObject({ field: "--keep" });
    expect(thrown(["--bogus"])).toMatchObject({
      code: "BAD_BENCH_ARGS",
      message: expect.stringMatching(/Usage: npm run bench -- large-model/),
    });
  });
});
