/**
 * `cna analyze`: one cell, one analysis, one process, no broker (docs/architecture.md, Contracts). Loads the
 * checkpoint, builds the cell's cases, runs worker/analyses' analyzeCell and writes a one-cell
 * rankings.json.
 */
import { basename, resolve } from "node:path";
import { RANKINGS_SCHEMA, buildCases, headName, neuronName, selectPairs } from "../core/index.ts";
import type { CellRankings, Rankings } from "../core/index.ts";
import { DEFAULT_VERIFY_SEED, ModelRunner, analyzeCell, loadCheckpoint } from "../worker/index.ts";
import type { ModelConfig } from "../worker/index.ts";
import { asUsage, parseFlags } from "./args.ts";
import { ANALYZE_FLAGS, resolveAnalyzeOptions } from "./analyze-options.ts";
import type { AnalyzeOptions } from "./analyze-options.ts";
import type { CliIo, Command } from "./command.ts";
import { UsageError } from "./errors.ts";
import { STDOUT, prepareOutput, readPairsFile, writeOutput } from "./files.ts";
import { ProgressDisplay } from "./progress.ts";
import type { HeadRef } from "../core/index.ts";

const NOTES = `Analyses (docs/method.md):
  head-ablation  every head ablated in turn; heads ranked by accuracy after ablation
  attribution    log-probability increase of every FFN neuron, attention layer and head
  cna            neurons ranked by Imp(original) - Imp(with --head ablated)
  verify         cna, then mask/keep/random top-K neurons per case (--ks)
cna and verify run head ablation first when --head is not given, and pick the top head.
verify's random control is seeded with ${DEFAULT_VERIFY_SEED} (recorded in the output); --seed only seeds
the pair sample. With --pairs, --digits still names the cell in the output.

Example:
  cna analyze --model models/arith-2l-d64 --op + --digits 1 --analysis cna --out cna-1d-add.json`;

export const analyzeCommand: Command = {
  name: "analyze",
  summary: "run one analysis on one cell (model, operator, digits, template) in this process",
  synopsis: "analyze --model DIR --op OP --digits N --analysis NAME --out FILE.json [flags]",
  flags: ANALYZE_FLAGS,
  notes: NOTES,
  run: (argv, io) => analyze(resolveAnalyzeOptions(parseFlags(ANALYZE_FLAGS, argv)), io),
};

export async function analyze(o: AnalyzeOptions, io: CliIo): Promise<number> {
  const startedMs = performance.now();
  await prepareOutput(o.outPath);
  const ckpt = await loadCheckpoint(o.modelDir);
  const model = basename(resolve(o.modelDir));
  if (o.head) checkHeadInModel(o.head, model, ckpt.config);
  const pairs =
    o.pairsFile !== null
      ? await readPairsFile(o.pairsFile, o.op, o.digits)
      : asUsage("--sample", () => selectPairs(o.op, o.digits, { sample: o.sample, seed: o.seed }));
  const cases = buildCases(pairs, o.template, ckpt.tokenizer);

  const progress = o.quiet ? null : new ProgressDisplay(io.stderr);
  const notice = (message: string) => {
    progress?.clear();
    io.stderr.write(`${message}\n`);
  };
  const runner = new ModelRunner(model, ckpt.config, ckpt.weights, {
    provider: o.provider,
    intraOpThreads: o.intraOpThreads,
    onNotice: notice,
    digest: ckpt.digest,
  });
  let cell: CellRankings;
  try {
    cell = await analyzeCell(
      runner,
      ckpt.tokenizer,
      { model, op: o.op, digits: o.digits, template: o.template },
      cases,
      {
        analysis: o.analysis,
        head: o.head ?? undefined,
        topK: o.topK,
        target: o.target,
        ks: o.ks,
        onProgress: progress ? (stage, done, total) => progress.update(stage, done, total) : undefined,
      },
    );
  } finally {
    progress?.clear();
    await runner.close();
  }
  const rankings: Rankings = { schema: RANKINGS_SCHEMA, cells: [cell] };
  await writeOutput(o.outPath, `${JSON.stringify(rankings, null, 2)}\n`, io.stdout);
  if (!o.quiet) {
    io.stderr.write(`cna: ${summary(o, cell, (performance.now() - startedMs) / 1000)}\n`);
    if (o.outPath !== STDOUT) io.stderr.write(`cna: wrote ${o.outPath}\n`);
  }
  return 0;
}

/** A head the model does not have is the user's typo, so it is a usage error naming both sides. */
function checkHeadInModel(head: HeadRef, model: string, config: ModelConfig): void {
  if (head.layer < config.nLayer && head.head < config.nHead) return;
  throw new UsageError(
    "--head",
    `--head ${headName(head)} is out of range: model ${model} has ${config.nLayer} layers (0..${config.nLayer - 1}) ` +
      `and ${config.nHead} heads per layer (0..${config.nHead - 1})`,
  );
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** One line: what ran, on how many cases, the baseline, the headline finding and the wall time. */
export function summary(o: Pick<AnalyzeOptions, "analysis">, cell: CellRankings, seconds: number): string {
  const parts = [
    `${o.analysis} ${cell.digits}D "${cell.op}" template ${cell.template} on ${cell.model}`,
    `${cell.cases} cases`,
    `baseline accuracy ${pct(cell.baselineAccuracy)}`,
  ];
  const top = cell.heads?.[0];
  if (top) parts.push(`top head ${headName(top)} (accuracy ${pct(top.accuracy)} when ablated)`);
  else if (cell.ablatedHead) parts.push(`ablated head ${headName(cell.ablatedHead)}`);
  const neuron = cell.neurons?.[0] ?? cell.attribution?.neurons[0];
  if (neuron) parts.push(`top neuron ${neuronName(neuron)}`);
  const mask = cell.verification?.mask.at(-1);
  if (mask) parts.push(`mask top-${mask.k} decrease ${pct(mask.relativeDecrease)}`);
  parts.push(`${seconds.toFixed(1)} s`);
  return parts.join(", ");
}
