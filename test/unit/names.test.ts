import { describe, expect, it } from "vitest";
import { headName, neuronName, parseHeadRef, readHeadName, readNeuronName } from "../../core/index.ts";
import { headFlag } from "../../cli/args.ts";

describe("head and neuron names", () => {
  it("prints heads as L9H1 and neurons as L11N2824", () => {
    expect(headName({ layer: 9, head: 1 })).toBe("L9H1");
    expect(headName({ layer: 1, head: 10 })).toBe("L1H10");
    expect(neuronName({ layer: 11, neuron: 2824 })).toBe("L11N2824");
  });

  it("reads the printed form, any case, and the older L.H form", () => {
    expect(readHeadName("L9H1")).toEqual({ layer: 9, head: 1 });
    expect(readHeadName("l9h1")).toEqual({ layer: 9, head: 1 });
    expect(readHeadName("9.1")).toEqual({ layer: 9, head: 1 });
    expect(readHeadName("1.10")).toEqual({ layer: 1, head: 10 });
    expect(readNeuronName("L11N2824")).toEqual({ layer: 11, neuron: 2824 });
    expect(readNeuronName("11.2824")).toEqual({ layer: 11, neuron: 2824 });
  });

  it("refuses what is neither form", () => {
    for (const bad of ["L9", "9", "L9N1", "9.1.2", "L-1H0", "H1L9", ""]) expect(readHeadName(bad)).toBeNull();
    expect(readNeuronName("L9H1")).toBeNull();
  });

  it("round-trips every printed head through the sweep-file and flag parsers", () => {
    for (const h of [
      { layer: 0, head: 0 },
      { layer: 31, head: 7 },
      { layer: 1, head: 10 },
    ]) {
      expect(parseHeadRef(headName(h))).toEqual(h);
      expect(headFlag("--head", headName(h))).toEqual(h);
    }
    expect(() => parseHeadRef(1.1, "cna.head")).toThrow(/quote it in YAML/);
    expect(() => headFlag("--head", "L1")).toThrow(/--head must be a head written L1H0/);
  });
});
