/**
 * WorkerService.Analyze's target token is the token alone: with a tokenizer that puts a start
 * token before any text (Llama-2's does), "4" is still one token, not [<s>, 4].
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ModelCache, analyzePrompt } from "../../worker/index.ts";
import { charTokenizerConfig, writeGpt2Checkpoint } from "../helpers/checkpoint.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-analyze-prompt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("analyzePrompt", () => {
  it("reads a one-character target as one token under a tokenizer that adds a start token", async () => {
    const model = join(dir, "bos");
    writeGpt2Checkpoint(model, { nLayer: 2, nHead: 2, nEmbd: 8, nPositions: 16 });
    writeFileSync(
      join(model, "tokenizer_config.json"),
      JSON.stringify({ ...charTokenizerConfig(16), add_bos_token: true }),
    );
    const models = new ModelCache({ intraOpThreads: 1 });
    try {
      const { checkpoint } = await models.get(model);
      expect(checkpoint.tokenizer.encode("4")).toHaveLength(2); // the start token, then "4"
      const out = JSON.parse(
        await analyzePrompt(models, { modelPath: model, prompt: "3+1=", targetToken: "4", analysis: "head-ablation" }),
      ) as { target: number; tokens: number[] };
      expect(out.target).toBe(checkpoint.tokenizer.encodePlain("4")[0]);
      expect(out.tokens[0]).toBe(checkpoint.tokenizer.encode("")[0]);
    } finally {
      await models.close();
    }
  });
});
