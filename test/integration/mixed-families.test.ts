/**
 * `cna run` (embedded) on one sweep over models of different families: tiny random Llama (GQA,
 * BF16, sharded), Qwen3, GPT-NeoX (parallel residual) and GPT-J checkpoints with the zoo's
 * character tokenizer, and a Mistral one (F16, one KV head) with the real Llama-2/Mistral
 * SentencePiece tokenizer, every stage. Rankings are schema-valid, have each model's own head count,
 * and do not depend on the worker count; each cell's head ranking is the unsharded analysis's.
 * The same sweep through JetStream and gRPC (`cna run --nats`, a real nats-server) gives
 * byte-identical rankings.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCases, operandPairs, rankHeads } from "../../core/index.ts";
import type { Rankings } from "../../core/index.ts";
import { writeRandomCheckpoint } from "../../scripts/random-checkpoint.ts";
import type { RandomCheckpointOptions } from "../../scripts/random-checkpoint.ts";
import { headAblation, loadCheckpoint, ModelRunner } from "../../worker/index.ts";
import { runCli } from "../helpers/cli.ts";
import { natsPrerequisite, startNats } from "../helpers/nats.ts";
import { rankingsSchemaErrors } from "../helpers/rankings-schema.ts";

const MODELS: Record<string, RandomCheckpointOptions> = {
  llama: { family: "llama", heads: 4, kvHeads: 2, dtype: "BF16", shards: 2 },
  qwen3: { family: "qwen3", hidden: 32, heads: 4, kvHeads: 2, headDim: 12 },
  neox: { family: "gpt_neox", heads: 2, parallelResidual: true },
  gptj: { family: "gptj", heads: 2, rotaryDim: 8, layers: 3 },
  mistral: { family: "mistral", heads: 4, kvHeads: 1, dtype: "F16", tokenizer: "llama2" },
};

const SWEEP = `name: mixed
models:
${Object.keys(MODELS)
  .map((id) => `  - { id: ${id}, path: ${id} }`)
  .join("\n")}
operators: ["+"]
digits: [1]
stages: [head-ablation, cna, verify]
cna: { topK: 10 }
verify: { ks: [5, 10] }
shard: { pairs: 40 }
`;

const nats = natsPrerequisite();

describe("cna run over a sweep mixing families", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "cna-mixed-"));
    for (const [id, options] of Object.entries(MODELS)) writeRandomCheckpoint(join(root, id), { seed: 5, ...options });
    writeFileSync(join(root, "sweep.yaml"), SWEEP);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("ranks every family's heads and neurons, the same with 1 and 3 workers, as an unsharded pass does", async () => {
    const a = await runCli(root, ["run", "sweep.yaml", "--out", "a", "--workers", "1", "--quiet"]);
    expect(a.code, a.stderr).toBe(0);
    const b = await runCli(root, ["run", "sweep.yaml", "--out", "b", "--workers", "3", "--quiet"]);
    expect(b.code, b.stderr).toBe(0);
    const ra = readFileSync(join(root, "a", "rankings.json"), "utf8");
    expect(readFileSync(join(root, "b", "rankings.json"), "utf8")).toBe(ra);
    const rankings = JSON.parse(ra) as Rankings;
    expect(rankingsSchemaErrors(rankings)).toEqual([]);
    expect(
      rankings.cells.map((c) => [
        c.model,
        c.heads?.length,
        (c.neurons?.length ?? 0) > 0,
        c.verification?.mask.map((p) => p.k),
      ]),
    ).toEqual([
      ["llama", 8, true, [5, 10]],
      ["qwen3", 8, true, [5, 10]],
      ["neox", 4, true, [5, 10]],
      ["gptj", 6, true, [5, 10]],
      ["mistral", 8, true, [5, 10]],
    ]);
    for (const cell of rankings.cells) {
      const ck = await loadCheckpoint(join(root, cell.model));
      await using runner = new ModelRunner(cell.model, ck.config, ck.weights, { intraOpThreads: 1 });
      const whole = rankHeads(await headAblation(runner, buildCases(operandPairs("+", 1), 4, ck.tokenizer)));
      expect(
        cell.heads!.map((h) => [h.layer, h.head, h.accuracy]),
        cell.model,
      ).toEqual(whole.map((h) => [h.layer, h.head, h.accuracy]));
      expect(cell.ablatedHead, cell.model).toEqual({ layer: whole[0]!.layer, head: whole[0]!.head });
    }
  });

  it.skipIf(nats.skip)("gives byte-identical rankings through NATS JetStream and gRPC", async () => {
    nats.assert();
    await using server = await startNats();
    const embedded = await runCli(root, ["run", "sweep.yaml", "--out", "embedded", "--workers", "2", "--quiet"]);
    expect(embedded.code, embedded.stderr).toBe(0);
    const distributed = await runCli(root, [
      "run",
      "sweep.yaml",
      "--out",
      "nats",
      "--nats",
      server.url,
      "--workers",
      "2",
      "--threads",
      "1",
      "--quiet",
    ]);
    expect(distributed.code, distributed.stderr).toBe(0);
    expect(readFileSync(join(root, "nats", "rankings.json"), "utf8")).toBe(
      readFileSync(join(root, "embedded", "rankings.json"), "utf8"),
    );
  });
});
