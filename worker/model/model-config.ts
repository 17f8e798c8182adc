/**
 * The normalised model description every family's config.json is read into, and the typed
 * field reader that reads it (errors naming the file and the field). config.ts does the reading.
 */
import type { ModelDims } from "../../core/index.ts";
import { BadConfigError } from "./errors.ts";

/** model_type values with an entry in families.ts's table. */
export const SUPPORTED_ARCHITECTURES = ["gpt2", "llama", "mistral", "qwen2", "qwen3", "gpt_neox", "gptj"] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/** The MLP's nonlinearity: GELU's tanh form ("gelu_new"), its exact erf form ("gelu"), or SiLU (SwiGLU's gate). */
export type Activation = "gelu_new" | "gelu" | "silu";
export type NormKind = "layernorm" | "rmsnorm";
/** torch_dtype as config.json writes it (the weights' own dtypes are read from the safetensors files). */
export const TORCH_DTYPES = ["float32", "float16", "bfloat16"] as const;
export type TorchDtype = (typeof TORCH_DTYPES)[number];

/** rope_scaling types the engine computes exactly as modeling_rope_utils.py does. */
export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface Rotary {
  /** rotate-half (Llama, Qwen, GPT-NeoX): dim i pairs with i + dims/2; interleaved (GPT-J): 2i with 2i + 1 */
  layout: "rotate-half" | "interleaved";
  /** leading dims of each head that rotate (partial rotary: GPT-NeoX rotary_pct, GPT-J rotary_dim); even, ≤ dHead */
  dims: number;
  theta: number;
  scaling: RopeScaling | null;
}

/**
 * The one description of a model's shape and structure that everything after loading reads: the
 * weight loader, the graph builders, the runner, the analyses. Its nLayer / nHead / dMlp are
 * core's ModelDims, the part a partial result carries.
 */
export interface ModelConfig extends ModelDims {
  architecture: Architecture;
  /** key/value heads; < nHead under grouped-query attention (query head h reads kv head h / (nHead / nKvHead)) */
  nKvHead: number;
  /** residual width */
  dModel: number;
  /** per-head width; nHead * dHead may differ from dModel (head_dim in config.json) */
  dHead: number;
  nPositions: number;
  vocabSize: number;
  norm: NormKind;
  normEps: number;
  /** null: learned position embeddings (GPT-2's wpe) */
  rotary: Rotary | null;
  /** "gelu": act(fc(x)); "swiglu": silu(gate(x)) * up(x) */
  mlp: "gelu" | "swiglu";
  activation: Activation;
  bias: {
    /** on the q, k and v projections */
    qkv: boolean;
    /** on the attention output projection W_O */
    out: boolean;
    /** on the MLP's projections */
    mlp: boolean;
    /** on the unembedding (GPT-J's lm_head.bias) */
    unembed: boolean;
  };
  /**
   * "none": x + A, then + MLP(norm(x + A)). "two-norms" (GPT-NeoX use_parallel_residual) and
   * "shared-norm" (GPT-J, ln_1 feeds both): the MLP reads the norm of x, and the layer adds A and
   * the MLP's output to x at once.
   */
  parallel: "none" | "two-norms" | "shared-norm";
  /** Qwen3: RMSNorm over each head's q and k before rotary */
  qkNorm: boolean;
  /** the unembedding is the token embedding */
  tiedEmbeddings: boolean;
  /**
   * Attention sees at most this many earlier positions (Mistral, Qwen with use_sliding_window);
   * null: no window. The engine refuses longer prompts rather than attend past it.
   */
  slidingWindow: number | null;
  dtype: TorchDtype | null;
}

/** Reads typed fields of one config.json, each error naming the file and the field. */
export class ConfigFields {
  constructor(
    readonly raw: Readonly<Record<string, unknown>>,
    readonly path: string,
  ) {}

  bad(field: string, what: string, value: unknown): BadConfigError {
    return new BadConfigError(
      this.path,
      field,
      `field ${field} must be ${what} (got ${JSON.stringify(value) ?? "nothing"})`,
    );
  }

  /** The value, or `fallback` when the key is absent or null (transformers' reading of a null). */
  value(field: string, fallback?: unknown): unknown {
    const v = this.raw[field];
    return v === undefined || v === null ? fallback : v;
  }

  int(field: string, fallback?: number): number {
    const v = this.value(field, fallback);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw this.bad(field, "a positive integer", v);
    return v;
  }

  /** A positive integer, null when config.json says null, `absent` when it says nothing. */
  intOrNull(field: string, absent: number | null): number | null {
    if (this.raw[field] === null || (this.raw[field] === undefined && absent === null)) return null;
    return this.int(field, absent ?? undefined);
  }

  positive(field: string, fallback?: number): number {
    const v = this.value(field, fallback);
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) throw this.bad(field, "a positive number", v);
    return v;
  }

  bool(field: string, fallback?: boolean): boolean {
    const v = this.value(field, fallback);
    if (typeof v !== "boolean") throw this.bad(field, "true or false", v);
    return v;
  }

  /** One of `table`'s keys, mapped to its value. */
  choice<T>(field: string, table: Readonly<Record<string, T>>, fallback?: string): T {
    const v = this.value(field, fallback);
    const found = typeof v === "string" && Object.hasOwn(table, v) ? table[v] : undefined;
    if (found === undefined) throw this.bad(field, `one of ${Object.keys(table).join(", ")}`, v);
    return found;
  }
}
