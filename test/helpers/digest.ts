/**
 * Model digests for plans whose models are never opened (no-op executors, fake paths): derived
 * from the path alone, so such plans still carry a digest per model as real ones do.
 */
import { createHash } from "node:crypto";
import type { ModelDigest } from "../../core/index.ts";

export function pathDigest(path: string): ModelDigest {
  const digest = createHash("sha256").update(`path:${path}`).digest("hex");
  return { digest, files: { "(path)": digest } };
}

/** Digests by model id for planSpecOf, from each model's path. */
export function pathDigests(models: ReadonlyArray<{ id: string; path: string }>): Record<string, ModelDigest> {
  return Object.fromEntries(models.map((m) => [m.id, pathDigest(m.path)]));
}

/** Coordinator.digestModel for such models. */
export const digestPath = async (path: string): Promise<ModelDigest> => pathDigest(path);
