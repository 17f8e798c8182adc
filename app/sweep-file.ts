/**
 * A sweep file on this machine: read with its model paths resolved against the file's
 * directory, written back as the resolved JSON a coordinator is sent, and checked and planned
 * here before a local run touches its data directory.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { SpecError, checkHeadFits, headName, parseSweep, resolveSweepLimits } from "../core/index.ts";
import type { ModelDigest, SweepLimits, SweepSpec } from "../core/index.ts";
import { checkCellLimit, checkShardLimit, planSpecOf } from "../coordinator/index.ts";
import type { PlanSpec } from "../coordinator/index.ts";
import { digestCheckpoint, readModelHeads } from "../worker/index.ts";

/** A sweep file, its model paths resolved against its directory; `limits` bound its text (default DEFAULT_SWEEP_LIMITS). */
export function readSweepFile(path: string, limits?: SweepLimits): SweepSpec {
  const base = dirname(resolve(path));
  const text = readFileSync(path, "utf8");
  const spec = parseSweep(text, {
    fileName: path,
    ...(limits ? { limits } : {}),
    listModelDirs: (root) => {
      const dir = resolve(base, root);
      return existsSync(dir)
        ? readdirSync(dir)
            .filter((d) => existsSync(join(dir, d, "config.json")))
            .sort()
            .map((d) => join(root, d))
        : [];
    },
  });
  return { ...spec, models: spec.models.map((m) => ({ ...m, path: resolve(base, m.path) })) };
}

/** A resolved sweep as a sweep file in JSON (YAML's subset): absolute model paths, every field explicit. */
export function resolvedSweepJson(spec: SweepSpec): string {
  return JSON.stringify(
    {
      name: spec.name,
      seed: spec.seed,
      models: spec.models.map((m) => ({ id: m.id, path: m.path })),
      operators: spec.operators,
      digits: spec.digits,
      templates: spec.templates,
      cases: { sample: spec.cases.pairsPerCell, seed: spec.cases.seed },
      stages: spec.stages,
      cna: {
        topK: spec.cna.topK,
        target: spec.cna.target,
        ...(spec.cna.head ? { head: headName(spec.cna.head) } : {}),
      },
      verify: spec.verify,
      shard: { pairs: spec.shard.pairsPerShard, maxAttempts: spec.shard.maxAttempts },
      execution: spec.execution,
    },
    null,
    2,
  );
}

/** A sweep checked against its models and limits, with what was learnt doing so. */
export interface PreparedSweep {
  spec: SweepSpec;
  /** names the sweep in messages (the file, as given) */
  source: string;
  /** each model's content digest, by model id */
  digests: Record<string, ModelDigest>;
  /** the sweep's plan: cells, stages and the shard layout (named after the sweep) */
  plan: PlanSpec;
}

/**
 * Everything a coordinator would refuse, checked here first: the cell and shard limits, a model
 * that cannot be read (named by its field), a fixed head a model does not have.
 */
export async function prepareSweep(
  spec: SweepSpec,
  o: { source: string; limits?: Partial<SweepLimits> },
): Promise<PreparedSweep> {
  const limits = resolveSweepLimits(o.limits);
  checkCellLimit(spec, limits, o.source);
  const digests: Record<string, ModelDigest> = {};
  for (const [i, m] of spec.models.entries()) {
    try {
      digests[m.id] = await digestCheckpoint(m.path);
    } catch (err) {
      throw new SpecError(`models[${i}].path`, `models[${i}].path ${m.path}: ${(err as Error).message}`, err);
    }
  }
  if (spec.cna.head)
    checkHeadFits(
      spec,
      new Map(await Promise.all(spec.models.map(async (m) => [m.id, await readModelHeads(m.path)] as const))),
    );
  const plan = planSpecOf(spec, spec.name, digests);
  checkShardLimit(plan, limits, o.source);
  return { spec, source: o.source, digests, plan };
}
