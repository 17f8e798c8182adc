/**
 * WorkerService.Analyze: one free-form prompt, one analysis, on a model this worker can load —
 * the notebooks' single-prompt view ("3+5=" → which heads, which neurons), served remotely.
 */
import { analyzeCell } from "../analyses/index.ts";
import { EngineInputError } from "../onnx/errors.ts";
import type { ModelCache } from "./execute.ts";
import type { AnalyzeRequestView } from "./grpc-server.ts";

export async function analyzePrompt(models: ModelCache, req: AnalyzeRequestView): Promise<string> {
  const { checkpoint, runner } = await models.get(req.modelPath);
  const prefixIds = checkpoint.tokenizer.encode(req.prompt);
  if (prefixIds.length === 0) throw new EngineInputError("prompt", "the prompt tokenizes to no tokens");
  let target: number;
  if (req.targetToken !== undefined) {
    // the token alone, without the start token a tokenizer like Llama-2's puts before any text
    const ids = checkpoint.tokenizer.encodePlain(req.targetToken);
    if (ids.length !== 1)
      throw new EngineInputError(
        "target_token",
        `target token ${JSON.stringify(req.targetToken)} is ${ids.length} tokens, not one`,
      );
    target = ids[0]!;
  } else {
    const out = await runner.forward({ sequences: [prefixIds], outputs: ["logits"] });
    const logits = out.outputs.logits!;
    target = logits.indexOf(Math.max(...logits));
  }
  // A one-case "cell"; the key's task fields do not apply to a free prompt and are dropped below.
  const cell = await analyzeCell(
    runner,
    checkpoint.tokenizer,
    { model: req.modelPath, op: "+", digits: 1, template: 4 },
    [{ id: 0, prefixIds, target }],
    {
      analysis: req.analysis,
      ...(req.head ? { head: req.head } : {}),
      target: req.targetToken !== undefined ? "correct" : "predicted",
    },
  );
  const { op: _op, digits: _digits, template: _template, ...rest } = cell;
  return JSON.stringify({
    prompt: req.prompt,
    tokens: prefixIds,
    target,
    targetText: checkpoint.tokenizer.decode([target]),
    ...rest,
  });
}
