/**
 * Large checkpoints are not copied into their graphs: the initializers point into the
 * safetensors file (ONNX external data). Both forms must compute the same thing, for the forward
 * graphs and the head-ablation read-out graphs.
 */
import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCheckpoint, ModelRunner } from "../../worker/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";

describe("external weights", () => {
  it("gives the same outputs as weights copied into the graph, and cleans up after itself", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cna-ext-"));
    try {
      writeGpt2Checkpoint(join(dir, "m"), { nLayer: 2, nHead: 2, nEmbd: 16 });
      const ck = await loadCheckpoint(join(dir, "m"));
      expect(ck.weights.layers[1]!.mlpOut.weight.source).toMatchObject({ file: join(dir, "m", "model.safetensors") });
      // a name of its own: the graph directories it looks for are this test's, not another process's
      const name = `ext-${process.pid}-${Date.now()}`;
      const inline = new ModelRunner(name, ck.config, ck.weights, { externalWeights: "never" });
      const external = new ModelRunner(name, ck.config, ck.weights, { externalWeights: "always" });
      expect([inline.externalWeights, external.externalWeights]).toEqual([false, true]);
      const req = {
        sequences: [
          [5, 12, 7, 16],
          [3, 4, 12, 9, 16],
        ],
        outputs: ["logits", "mlp_post", "head_out"] as const,
      };
      const a = await inline.forward({ ...req, outputs: [...req.outputs] });
      const b = await external.forward({ ...req, outputs: [...req.outputs] });
      for (const o of req.outputs) expect(Array.from(b.outputs[o]!)).toEqual(Array.from(a.outputs[o]!));
      const reads = req.sequences.map((s) => [
        { index: s.length - 2, target: 3 },
        { index: s.length - 1, target: 7 },
      ]);
      for (const sweep of [false, true]) {
        const x = await inline.readout({ sequences: req.sequences, reads, sweep });
        const y = await external.readout({ sequences: req.sequences, reads, sweep });
        expect([Array.from(y.top1), Array.from(y.targetProb)]).toEqual([Array.from(x.top1), Array.from(x.targetProb)]);
      }
      const graphDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith(`cna-graphs-${name}-`));
      expect(graphDirs().length).toBeGreaterThan(0);
      await inline.close();
      await external.close();
      expect(graphDirs().filter((d) => existsSync(join(tmpdir(), d, "weights.safetensors")))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("are prepacked by default up to PREPACK_MAX_BYTES; without prepacking the outputs agree up to rounding", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cna-ext-"));
    try {
      writeGpt2Checkpoint(join(dir, "m"), { nLayer: 2, nHead: 2, nEmbd: 16 });
      const ck = await loadCheckpoint(join(dir, "m"));
      await using packed = new ModelRunner("packed", ck.config, ck.weights, { externalWeights: "always" });
      await using shared = new ModelRunner("shared", ck.config, ck.weights, {
        externalWeights: "always",
        prepackWeights: false,
      });
      expect([packed.prepackWeights, shared.prepackWeights]).toEqual([true, false]);
      const req = {
        sequences: [
          [5, 12, 7, 16],
          [3, 4, 12, 9, 16],
        ],
        outputs: ["logits_all" as const],
      };
      const [a, b] = await Promise.all([packed.forward(req), shared.forward(req)]);
      const x = a.outputs.logits_all!;
      const y = b.outputs.logits_all!;
      expect(y).toHaveLength(x.length);
      expect(Math.max(...x.map((v, i) => Math.abs(v - y[i]!)))).toBeLessThan(1e-5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
