/**
 * Bad input to the engine is refused with an error that names the thing, before ONNX Runtime
 * sees it: a prompt longer than n_positions, a token outside the vocabulary, a head or neuron
 * that does not exist, a mask of the wrong size.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cna, headAblation, loadCheckpoint, ModelRunner, neuronTopTokens, verify } from "../../worker/index.ts";
import type { ModelTokenizer } from "../../worker/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";

describe("engine input errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-engine-"));
  let runner: ModelRunner;
  let tokenizer: ModelTokenizer;
  beforeAll(async () => {
    writeGpt2Checkpoint(join(dir, "m"), { nLayer: 2, nHead: 2, nEmbd: 8, nPositions: 16 });
    const ck = await loadCheckpoint(join(dir, "m"));
    runner = new ModelRunner("m", ck.config, ck.weights);
    tokenizer = ck.tokenizer;
  });
  afterAll(async () => {
    await runner?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ok = { id: 0, prefixIds: [5, 12, 7, 16], target: 9 };

  it("refuses a prompt longer than n_positions", async () => {
    const long = { id: 3, prefixIds: new Array(17).fill(5), target: 1 };
    await expect(headAblation(runner, [ok, long])).rejects.toMatchObject({
      code: "BAD_ENGINE_INPUT",
      message: expect.stringMatching(/case 3: a prompt of 17 tokens is longer than n_positions = 16/),
    });
    await expect(runner.forward({ sequences: [long.prefixIds], outputs: ["logits"] })).rejects.toThrow(
      /17 tokens is longer than n_positions = 16/,
    );
  });

  it("refuses token ids outside the vocabulary", async () => {
    await expect(runner.forward({ sequences: [[5, 4000]], outputs: ["logits"] })).rejects.toThrow(
      /token id 4000 is outside the vocabulary \(0\.\.48\)/,
    );
    await expect(headAblation(runner, [{ ...ok, target: 49 }])).rejects.toThrow(
      /target token 49 is outside the vocabulary/,
    );
  });

  it("refuses a head that does not exist", async () => {
    await expect(cna(runner, [ok], { head: { layer: 2, head: 0 } })).rejects.toThrow(
      /head 2\.0 does not exist: the model has layers 0\.\.1 and heads 0\.\.1/,
    );
    await expect(verify(runner, [ok], { head: { layer: 0, head: -1 } })).rejects.toMatchObject({
      code: "BAD_ENGINE_INPUT",
      field: "head",
    });
  });

  it("refuses a neuron that does not exist", async () => {
    await expect(neuronTopTokens(runner, tokenizer, [{ layer: 0, neuron: 32, sign: 1 }])).rejects.toThrow(
      /neuron 0_32 does not exist: .* neurons 0\.\.31/,
    );
  });

  it("refuses masks of the wrong size and empty input", async () => {
    await expect(
      runner.forward({ sequences: [ok.prefixIds], outputs: ["logits"], headMask: new Float32Array(3) }),
    ).rejects.toThrow(/head mask must hold \[1, 2, 2\] values, got 3/);
    await expect(runner.forward({ sequences: [], outputs: ["logits"] })).rejects.toThrow(/empty batch/);
    await expect(headAblation(runner, [])).rejects.toThrow(/no cases/);
  });

  it("refuses reads outside their row, targets outside the vocabulary and a head mask on a sweep", async () => {
    const sequences = [ok.prefixIds];
    await expect(runner.readout({ sequences, reads: [[{ index: 4, target: 1 }]] })).rejects.toThrow(
      /row 0 read position 4 is outside its 4 tokens/,
    );
    await expect(runner.readout({ sequences, reads: [[]] })).rejects.toThrow(/row 0 has nothing to read/);
    await expect(runner.readout({ sequences, reads: [] })).rejects.toThrow(/0 read lists for 1 rows/);
    await expect(runner.readout({ sequences, reads: [[{ index: 3, target: 49 }]] })).rejects.toMatchObject({
      code: "BAD_ENGINE_INPUT",
      field: "target",
    });
    await expect(
      runner.readout({
        sequences,
        reads: [[{ index: 3, target: 1 }]],
        sweep: true,
        headMask: new Float32Array(4).fill(1),
      }),
    ).rejects.toThrow(/a sweep ablates every head itself/);
  });

  it("fails on a checkpoint whose weights are NaN, naming the tensor and layer, instead of ranking noise", async () => {
    writeGpt2Checkpoint(join(dir, "nan"), {
      nLayer: 2,
      nHead: 2,
      nEmbd: 8,
      nPositions: 16,
      // layer 1's MLP output weights all NaN: every residual from layer 1's MLP on is NaN
      edit: (t) => {
        const w = t["transformer.h.1.mlp.c_proj.weight"]!;
        if ("data" in w) w.data.fill(Number.NaN);
      },
    });
    const ck = await loadCheckpoint(join(dir, "nan"));
    const nan = new ModelRunner("nan", ck.config, ck.weights);
    try {
      await expect(headAblation(nan, [ok])).rejects.toMatchObject({
        code: "NON_FINITE",
        retryable: false,
        message: expect.stringMatching(/target_prob holds NaN/),
      });
      await expect(nan.forward({ sequences: [ok.prefixIds], outputs: ["resid_mid", "logits"] })).rejects.toMatchObject({
        code: "NON_FINITE",
        tensor: "logits",
      });
      await expect(nan.forward({ sequences: [ok.prefixIds], outputs: ["mlp_out"] })).rejects.toMatchObject({
        code: "NON_FINITE",
        tensor: "mlp_out",
        layer: 1,
        message: expect.stringMatching(/mlp_out at layer 1 holds NaN/),
      });
      await expect(nan.forward({ sequences: [ok.prefixIds], outputs: ["resid_pre"] })).resolves.toBeDefined();
      await expect(cna(nan, [ok], { head: { layer: 0, head: 0 }, topK: 5 })).rejects.toMatchObject({
        code: "NON_FINITE",
      });
    } finally {
      await nan.close();
    }
  });
});
