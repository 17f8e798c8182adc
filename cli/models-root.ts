/**
 * `--models-root DIR` (repeatable): the directories a coordinator or worker may open models
 * from. A path is inside a root when its real path (symlinks followed) is the root's real path
 * or below it, so neither `..` nor a symlink leads out. Default: the working directory.
 */
import { realpathSync } from "node:fs";
import { resolve, sep } from "node:path";
import { ModelPathError } from "../core/index.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import { UsageError } from "./errors.ts";

export const MODELS_ROOT_FLAG: FlagSpec = {
  name: "models-root",
  value: "DIR",
  multiple: true,
  help: "a directory models may be opened from; repeatable (default: the working directory)",
};

/** Checks a model path against the roots; throws ModelPathError naming `field` and the roots. */
export type ModelPathCheck = (path: string, field: string) => void;

/** The roots as given (default: the working directory), for the start line of the log. */
export function modelsRootsOf(values: FlagValues): string[] {
  const given = values["models-root"];
  return (Array.isArray(given) && given.length > 0 ? given : [process.cwd()]).map((dir) => resolve(dir));
}

export function modelPathCheck(values: FlagValues): ModelPathCheck {
  const list = modelsRootsOf(values);
  const roots = list.map((dir) => {
    try {
      return realpathSync(resolve(dir));
    } catch (err) {
      throw new UsageError("--models-root", `--models-root ${dir}: ${(err as Error).message}`, err);
    }
  });
  return (path, field) => {
    let real: string;
    try {
      real = realpathSync(resolve(path));
    } catch {
      // a path that does not exist yet cannot be followed; judge what it says
      real = resolve(path);
    }
    if (!roots.some((root) => real === root || real.startsWith(root.endsWith(sep) ? root : root + sep)))
      throw new ModelPathError(field, path, roots);
  };
}
