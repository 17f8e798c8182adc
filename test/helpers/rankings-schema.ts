/**
 * schemas/rankings.schema.json compiled once with Ajv (draft 2020-12, strict mode, so a typo in
 * the schema's own keywords fails loudly instead of validating nothing).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";

export const RANKINGS_SCHEMA_PATH = fileURLToPath(new URL("../../schemas/rankings.schema.json", import.meta.url));

const ajv = new Ajv2020({ strict: true, allErrors: true });
const validate = ajv.compile(JSON.parse(readFileSync(RANKINGS_SCHEMA_PATH, "utf8")) as object);

/** The schema's complaints about `value`, one line each; [] when it is valid. */
export function rankingsSchemaErrors(value: unknown): string[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`);
}
