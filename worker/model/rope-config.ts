/**
 * A family's rotary settings from config.json, as transformers reads them.
 *
 * Checkpoints write them two ways: the long-standing `rope_theta` (GPT-NeoX: `rotary_emb_base`,
 * `rotary_pct`) beside `rope_scaling` ({ type | rope_type, factor, ... }), and newer exports
 * `rope_parameters` ({ rope_type, rope_theta, partial_rotary_factor, ... }). Both are read; a key
 * in rope_parameters wins. Only the scalings the engine computes exactly (modeling_rope_utils.py's
 * "default", "linear" and "llama3") are accepted; any other is refused naming its field, since
 * silently using unscaled frequencies would analyse a different model.
 */
import type { ConfigFields, RopeScaling, Rotary } from "./model-config.ts";
import type { RotarySpec } from "./families.ts";

const SCALINGS = ["default", "linear", "llama3"] as const;

export function readRotary(f: ConfigFields, spec: RotarySpec, dHead: number, defaultTheta: number): Rotary {
  const params = record(f, "rope_parameters");
  const scaling = record(f, "rope_scaling");
  /** A rope key: rope_parameters' first, then rope_scaling's; with the field path for errors. */
  const rope = (key: string): { value: unknown; field: string } | undefined => {
    if (params && params[key] !== undefined && params[key] !== null)
      return { value: params[key], field: `rope_parameters.${key}` };
    if (scaling && scaling[key] !== undefined && scaling[key] !== null)
      return { value: scaling[key], field: `rope_scaling.${key}` };
    return undefined;
  };
  const number = (key: string, integer = false): number => {
    const found = rope(key);
    const v = found?.value;
    const field = found?.field ?? `rope_scaling.${key}`;
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v))) {
      throw f.bad(field, integer ? "a positive integer" : "a positive number", v);
    }
    return v;
  };

  let theta = defaultTheta;
  let scaled: RopeScaling | null = null;
  if (spec.thetaKey !== null) {
    theta = rope("rope_theta") ? number("rope_theta") : f.positive(spec.thetaKey, defaultTheta);
    const type = rope("rope_type") ?? rope("type");
    const name = type?.value ?? "default";
    if (!(SCALINGS as readonly unknown[]).includes(name) || (!spec.scaling && name !== "default")) {
      throw f.bad(
        type!.field,
        `one of ${(spec.scaling ? SCALINGS : ["default"]).join(", ")} (the rotary scalings computed as transformers computes them)`,
        name,
      );
    }
    if (name === "linear") scaled = { type: "linear", factor: number("factor") };
    if (name === "llama3") {
      scaled = {
        type: "llama3",
        factor: number("factor"),
        lowFreqFactor: number("low_freq_factor"),
        highFreqFactor: number("high_freq_factor"),
        originalMaxPositions: number("original_max_position_embeddings", true),
      };
    }
  }

  let dims: number;
  let dimsField: string;
  if ("dimsKey" in spec.partial) {
    // GPT-J with rotary_dim null rotates with a table as wide as the whole residual, which only
    // lines up with a head when there is one head; refuse it rather than guess.
    if (f.raw[spec.partial.dimsKey] === null) throw f.bad(spec.partial.dimsKey, "a positive even integer", null);
    dims = f.int(spec.partial.dimsKey, spec.partial.fallback);
    dimsField = spec.partial.dimsKey;
  } else {
    const found = rope("partial_rotary_factor");
    const factor = found ? number("partial_rotary_factor") : f.positive(spec.partial.key, spec.partial.fallback);
    dimsField = found?.field ?? spec.partial.key;
    dims = Math.trunc(dHead * factor); // Python's int(head_dim * factor)
  }
  if (dims % 2 !== 0 || dims > dHead) {
    throw f.bad(
      dimsField,
      `such that the rotated dims (${dims}) are even and at most the head width ${dHead}`,
      f.raw[dimsField] ?? dims,
    );
  }
  return { layout: spec.layout, dims, theta, scaling: scaled };
}

function record(f: ConfigFields, key: string): Record<string, unknown> | undefined {
  const v = f.raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw f.bad(key, "an object or null", v);
  return v as Record<string, unknown>;
}
