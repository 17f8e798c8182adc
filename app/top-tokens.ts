/**
 * The last touch on a finished sweep's rankings, which every coordinator this package starts
 * gives them: each listed neuron's top tokens (what it writes), which need the models.
 */
import { existsSync } from "node:fs";
import type { PlanSpec } from "../coordinator/index.ts";
import type { Rankings } from "../core/index.ts";
import { addTopTokens, loadCheckpoint, ModelRunner } from "../worker/index.ts";

export interface ModelRef {
  id: string;
  path: string;
}

/** Fills `topTokens` of every neuron listed in the cells of these models (others are left as they are). */
export async function withTopTokens(r: Rankings, models: readonly ModelRef[], threads: number | undefined): Promise<Rankings> {
  for (const m of models) {
    const cells = r.cells.filter((c) => c.model === m.id && (c.neurons || c.attribution));
    if (cells.length === 0) continue;
    const ck = await loadCheckpoint(m.path);
    await using runner = new ModelRunner(m.id, ck.config, ck.weights, { intraOpThreads: threads, digest: ck.digest });
    for (const c of cells) await addTopTokens(runner, ck.tokenizer, c, 10);
  }
  return r;
}

/**
 * A coordinator's `finishRankings`: top tokens from the models this machine sees (at the paths
 * the sweep was submitted with); a model not here is told to `missing` and its neurons are left
 * without them.
 */
export function topTokensFinisher(threads: number | undefined, missing: (sweepId: string, model: ModelRef) => void): (r: Rankings, spec: PlanSpec) => Promise<Rankings> {
  return async (r, spec) => {
    const models = modelsWithNeurons(r, modelsOf(spec));
    const here = models.filter((m) => existsSync(m.path));
    for (const m of models) if (!here.includes(m)) missing(spec.sweepId, m);
    return withTopTokens(r, here, threads);
  };
}

/** A sweep's models, each once, in cell order. */
export function modelsOf(spec: PlanSpec): ModelRef[] {
  const byId = new Map<string, string>();
  for (const c of spec.cells) byId.set(c.key.model, c.modelPath);
  return [...byId].map(([id, path]) => ({ id, path }));
}

/** Models with neurons listed in `r`. */
export function modelsWithNeurons(r: Rankings, models: readonly ModelRef[]): ModelRef[] {
  return models.filter((m) => r.cells.some((c) => c.model === m.id && (c.neurons || c.attribution)));
}
