/**
 * The refusal of a sweep whose models' files changed since it was planned: which files of which
 * model, so the operator can put them back or start afresh.
 */
import { ModelChangedError, changedFiles } from "../core/index.ts";
import type { ModelDigest } from "../core/index.ts";
import type { PlanSpec } from "./planner.ts";

/**
 * The error for a plan whose models no longer have the digests they were planned with;
 * `planned` names what was planned with them, e.g. `sweep <id>`.
 */
export function modelChanged(
  plan: PlanSpec,
  now: Readonly<Record<string, ModelDigest>>,
  source: string,
  planned: string,
): ModelChangedError {
  const changes = Object.entries(plan.models ?? {}).flatMap(([model, before]) => {
    const after = now[model];
    if (!after || after.digest === before.digest) return [];
    return changedFiles(before, after).map((f) => ({ model, file: f }));
  });
  const named = changes.map((c) => `${c.model}: ${c.file}`).join(", ");
  const model = changes[0]?.model ?? "";
  return new ModelChangedError(
    model,
    changes.map((c) => c.file),
    `${source}: model files changed since ${planned} was planned (${named || "the set of models"}); its results are of the old files. Put them back, or start afresh (--fresh)`,
  );
}
