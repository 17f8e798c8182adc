/**
 * A plain float64 forward pass of one token sequence, written straight from transformers'
 * modeling files for every family (modeling_llama / mistral / qwen2 / qwen3, modeling_gpt_neox,
 * modeling_gptj, modeling_gpt2), reading config.json by its own keys and the tensors by their
 * Hugging Face names. It shares nothing with the engine's config parsing or graph pieces, so the
 * two agreeing checks both. Slow (loops over every weight), for tiny models only.
 *
 * A head mask zeroes a query head's slice of the attention output before W_O (docs/method.md
 * section 2); a neuron mask scales the MLP coefficients.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openWeightFiles } from "../../worker/model/index.ts";

type Vec = Float64Array<ArrayBufferLike>;

export interface ReferenceOptions {
  /** (layer, head) -> multiplier on the head's output, default 1 */
  headMask?: (layer: number, head: number) => number;
  /** (layer, neuron) -> multiplier on the coefficient, default 1 */
  neuronMask?: (layer: number, neuron: number) => number;
}

export interface ReferenceResult {
  /** [T][V] logits at every position */
  logits: Vec[];
  /** per layer, at the last position: x + A, the MLP coefficients m, the residual entering the layer */
  residMid: Vec[];
  mlpPost: Vec[];
  residPre: Vec[];
  /** the final norm's scale at the last position */
  finalScale: number;
}

export function referenceForward(dir: string, ids: readonly number[], o: ReferenceOptions = {}): ReferenceResult {
  const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, any>;
  const files = openWeightFiles(dir);
  const cache = new Map<string, Vec>();
  const t = (name: string): Vec => {
    let v = cache.get(name);
    if (v === undefined) cache.set(name, (v = Float64Array.from(files.getFloat32(name))));
    return v;
  };
  const has = (name: string) => files.has(name);
  try {
    switch (c.model_type) {
      case "llama":
      case "mistral":
      case "qwen2":
      case "qwen3":
        return llamaLike(c, t, has, ids, o);
      case "gpt_neox":
        return gptNeox(c, t, has, ids, o);
      case "gptj":
        return gptj(c, t, ids, o);
      case "gpt2":
        return gpt2(c, t, ids, o);
      default:
        throw new Error(`no reference for ${c.model_type}`);
    }
  } finally {
    files.close();
  }
}

/** nn.Linear: W [out, in], y = W x + b */
function linear(W: Vec, x: Vec, b?: Vec): Vec {
  const n = x.length,
    m = W.length / n,
    y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = b ? b[i]! : 0;
    for (let j = 0; j < n; j++) s += W[i * n + j]! * x[j]!;
    y[i] = s;
  }
  return y;
}
/** Conv1D: W [in, out], y = x W + b */
function conv1d(W: Vec, x: Vec, b: Vec): Vec {
  const n = x.length,
    m = W.length / n,
    y = Float64Array.from(b);
  for (let j = 0; j < n; j++) for (let i = 0; i < m; i++) y[i]! += x[j]! * W[j * m + i]!;
  return y;
}
function rms(x: Vec, w: Vec, eps: number): Vec {
  const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
  return x.map((v, i) => w[i]! * (v / Math.sqrt(ms + eps)));
}
function layerNorm(x: Vec, w: Vec, b: Vec, eps: number): Vec {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * w[i]! + b[i]!);
}
const add = (a: Vec, b: Vec): Vec => a.map((v, i) => v + b[i]!);
const silu = (v: number) => v / (1 + Math.exp(-v));
const geluTanh = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
/** erf by its Maclaurin series (|x| < 3) or continued-fraction tail: ample for 1e-4 comparisons */
function erf(x: number): number {
  if (Math.abs(x) > 3) {
    const ax = Math.abs(x);
    let f = 0;
    for (let k = 60; k >= 1; k--) f = k / 2 / (ax + f);
    return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f));
  }
  let sum = 0,
    term = x;
  for (let n = 0; n < 80; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const geluErf = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
function act(name: string): (v: number) => number {
  if (name === "gelu") return geluErf;
  if (name === "gelu_new" || name === "gelu_pytorch_tanh" || name === "gelu_fast") return geluTanh;
  throw new Error(`reference has no activation ${name}`);
}

/** inv_freq in float64 from transformers' formulas (default, linear, llama3). */
function invFreq(dims: number, theta: number, scaling: Record<string, any> | null): number[] {
  const inv = Array.from({ length: dims / 2 }, (_, i) => 1 / theta ** ((2 * i) / dims));
  const type = scaling?.rope_type ?? scaling?.type ?? "default";
  if (type === "linear") return inv.map((v) => v / scaling!.factor);
  if (type !== "llama3") return inv;
  const { factor, low_freq_factor: lo, high_freq_factor: hi, original_max_position_embeddings: old } = scaling!;
  return inv.map((v) => {
    const wavelen = (2 * Math.PI) / v;
    if (wavelen < old / hi) return v;
    if (wavelen > old / lo) return v / factor;
    const smooth = (old / wavelen - lo) / (hi - lo);
    return (1 - smooth) * (v / factor) + smooth * v;
  });
}

/** Rotates the first `dims` dims of one head vector at position p: pairs (i, i + dims/2), or (2i, 2i + 1) interleaved. */
function rotate(x: Vec, p: number, inv: number[], interleaved: boolean): Vec {
  const out = Float64Array.from(x);
  const half = inv.length;
  for (let i = 0; i < half; i++) {
    const [a, b] = interleaved ? [2 * i, 2 * i + 1] : [i, i + half];
    const cos = Math.cos(p * inv[i]!),
      sin = Math.sin(p * inv[i]!);
    out[a] = x[a]! * cos - x[b]! * sin;
    out[b] = x[b]! * cos + x[a]! * sin;
  }
  return out;
}

/** Causal softmax attention of T positions; q[p][h], k/v[p][kv] head vectors; head h reads kv head h / (H / Hkv). */
function attend(q: Vec[][], k: Vec[][], v: Vec[][], dh: number, mask: (h: number) => number): Vec[] {
  const T = q.length,
    H = q[0]!.length,
    rep = H / k[0]!.length;
  return Array.from({ length: T }, (_, p) => {
    const z = new Float64Array(H * dh);
    for (let h = 0; h < H; h++) {
      const kv = Math.floor(h / rep);
      const scores = Array.from(
        { length: p + 1 },
        (_, s) => q[p]![h]!.reduce((a, qv, d) => a + qv * k[s]![kv]![d]!, 0) / Math.sqrt(dh),
      );
      const max = Math.max(...scores);
      const w = scores.map((s) => Math.exp(s - max));
      const total = w.reduce((a, b) => a + b, 0);
      for (let s = 0; s <= p; s++)
        for (let d = 0; d < dh; d++) z[h * dh + d]! += (w[s]! / total) * v[s]![kv]![d]! * mask(h);
    }
    return z;
  });
}

const heads = (x: Vec, n: number, dh: number): Vec[] =>
  Array.from({ length: n }, (_, h) => x.slice(h * dh, (h + 1) * dh));

type Get = (name: string) => Vec;

function finish(
  xs: Vec[],
  finalNorm: (x: Vec) => Vec,
  scale: (x: Vec) => number,
  unembed: Vec,
  bias: Vec | undefined,
  r: Omit<ReferenceResult, "logits" | "finalScale">,
): ReferenceResult {
  const logits = xs.map((x) => linear(unembed, finalNorm(x), bias));
  return { ...r, logits, finalScale: scale(xs[xs.length - 1]!) };
}

function llamaLike(
  c: Record<string, any>,
  t: Get,
  has: (n: string) => boolean,
  ids: readonly number[],
  o: ReferenceOptions,
): ReferenceResult {
  const H = c.num_attention_heads,
    Hkv = c.num_key_value_heads ?? H,
    D = c.hidden_size,
    dh = c.head_dim ?? D / H,
    eps = c.rms_norm_eps;
  const inv = invFreq(dh, c.rope_theta ?? 10000, c.rope_scaling ?? null);
  const p = (n: string) => (has(`model.${n}`) ? t(`model.${n}`) : undefined);
  let xs: Vec[] = ids.map((id) => t("model.embed_tokens.weight").slice(id * D, (id + 1) * D));
  const r = { residMid: [] as Vec[], mlpPost: [] as Vec[], residPre: [] as Vec[] };
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const L = (n: string) => t(`model.layers.${l}.${n}`);
    const B = (n: string) => p(`layers.${l}.${n}`);
    r.residPre.push(xs[xs.length - 1]!);
    const hs = xs.map((x) => rms(x, L("input_layernorm.weight"), eps));
    const qkNorm = (v: Vec, w: string) => (c.model_type === "qwen3" ? rms(v, L(w), eps) : v);
    const q = hs.map((h, pos) =>
      heads(linear(L("self_attn.q_proj.weight"), h, B("self_attn.q_proj.bias")), H, dh).map((v) =>
        rotate(qkNorm(v, "self_attn.q_norm.weight"), pos, inv, false),
      ),
    );
    const k = hs.map((h, pos) =>
      heads(linear(L("self_attn.k_proj.weight"), h, B("self_attn.k_proj.bias")), Hkv, dh).map((v) =>
        rotate(qkNorm(v, "self_attn.k_norm.weight"), pos, inv, false),
      ),
    );
    const v = hs.map((h) => heads(linear(L("self_attn.v_proj.weight"), h, B("self_attn.v_proj.bias")), Hkv, dh));
    const z = attend(q, k, v, dh, (h) => o.headMask?.(l, h) ?? 1);
    xs = xs.map((x, pos) => add(x, linear(L("self_attn.o_proj.weight"), z[pos]!, B("self_attn.o_proj.bias"))));
    r.residMid.push(xs[xs.length - 1]!);
    xs = xs.map((x, pos) => {
      const h = rms(x, L("post_attention_layernorm.weight"), eps);
      const gate = linear(L("mlp.gate_proj.weight"), h, B("mlp.gate_proj.bias"));
      const up = linear(L("mlp.up_proj.weight"), h, B("mlp.up_proj.bias"));
      const m = gate.map((g, i) => silu(g) * up[i]! * (o.neuronMask?.(l, i) ?? 1));
      if (pos === xs.length - 1) r.mlpPost.push(m);
      return add(x, linear(L("mlp.down_proj.weight"), m, B("mlp.down_proj.bias")));
    });
  }
  const unembed =
    has("lm_head.weight") && !c.tie_word_embeddings ? t("lm_head.weight") : t("model.embed_tokens.weight");
  const rmsScale = (x: Vec) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length + eps);
  return finish(xs, (x) => rms(x, t("model.norm.weight"), eps), rmsScale, unembed, undefined, r);
}

function lnScale(eps: number) {
  return (x: Vec) => {
    const mean = x.reduce((a, v) => a + v, 0) / x.length;
    return Math.sqrt(x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length + eps);
  };
}

function gptNeox(
  c: Record<string, any>,
  t: Get,
  has: (n: string) => boolean,
  ids: readonly number[],
  o: ReferenceOptions,
): ReferenceResult {
  const H = c.num_attention_heads,
    D = c.hidden_size,
    dh = D / H,
    eps = c.layer_norm_eps ?? 1e-5;
  const rot = Math.trunc(dh * (c.rotary_pct ?? 0.25));
  const inv = invFreq(rot, c.rotary_emb_base ?? 10000, c.rope_scaling ?? null);
  const f = act(c.hidden_act ?? "gelu");
  const parallel = c.use_parallel_residual ?? true;
  let xs: Vec[] = ids.map((id) => t("gpt_neox.embed_in.weight").slice(id * D, (id + 1) * D));
  const r = { residMid: [] as Vec[], mlpPost: [] as Vec[], residPre: [] as Vec[] };
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const L = (n: string) => t(`gpt_neox.layers.${l}.${n}`);
    const B = (n: string) => (has(`gpt_neox.layers.${l}.${n}`) ? L(n) : undefined);
    r.residPre.push(xs[xs.length - 1]!);
    // query_key_value: per head, that head's q, k and v rows in turn
    const qkv = xs.map((x) =>
      linear(
        L("attention.query_key_value.weight"),
        layerNorm(x, L("input_layernorm.weight"), L("input_layernorm.bias"), eps),
        B("attention.query_key_value.bias"),
      ),
    );
    const part = (all: Vec, h: number, which: number) =>
      all.slice(h * 3 * dh + which * dh, h * 3 * dh + (which + 1) * dh);
    const q = qkv.map((all, pos) => Array.from({ length: H }, (_, h) => rotate(part(all, h, 0), pos, inv, false)));
    const k = qkv.map((all, pos) => Array.from({ length: H }, (_, h) => rotate(part(all, h, 1), pos, inv, false)));
    const v = qkv.map((all) => Array.from({ length: H }, (_, h) => part(all, h, 2)));
    const z = attend(q, k, v, dh, (h) => o.headMask?.(l, h) ?? 1);
    const attn = z.map((zz) => linear(L("attention.dense.weight"), zz, B("attention.dense.bias")));
    const mlp = (x: Vec, last: boolean) => {
      const m = linear(
        L("mlp.dense_h_to_4h.weight"),
        layerNorm(x, L("post_attention_layernorm.weight"), L("post_attention_layernorm.bias"), eps),
        L("mlp.dense_h_to_4h.bias"),
      ).map((u, i) => f(u) * (o.neuronMask?.(l, i) ?? 1));
      if (last) r.mlpPost.push(m);
      return linear(L("mlp.dense_4h_to_h.weight"), m, L("mlp.dense_4h_to_h.bias"));
    };
    r.residMid.push(add(xs[xs.length - 1]!, attn[attn.length - 1]!));
    xs = xs.map((x, pos) => {
      const last = pos === xs.length - 1;
      if (parallel) return add(add(x, attn[pos]!), mlp(x, last));
      const mid = add(x, attn[pos]!);
      return add(mid, mlp(mid, last));
    });
  }
  return finish(
    xs,
    (x) => layerNorm(x, t("gpt_neox.final_layer_norm.weight"), t("gpt_neox.final_layer_norm.bias"), eps),
    lnScale(eps),
    t("embed_out.weight"),
    undefined,
    r,
  );
}

function gptj(c: Record<string, any>, t: Get, ids: readonly number[], o: ReferenceOptions): ReferenceResult {
  const H = c.n_head,
    D = c.n_embd,
    dh = D / H,
    eps = c.layer_norm_epsilon ?? 1e-5;
  const inv = invFreq(c.rotary_dim ?? 64, 10000, null);
  const f = act(c.activation_function ?? "gelu_new");
  let xs: Vec[] = ids.map((id) => t("transformer.wte.weight").slice(id * D, (id + 1) * D));
  const r = { residMid: [] as Vec[], mlpPost: [] as Vec[], residPre: [] as Vec[] };
  for (let l = 0; l < c.n_layer; l++) {
    const L = (n: string) => t(`transformer.h.${l}.${n}`);
    r.residPre.push(xs[xs.length - 1]!);
    const hs = xs.map((x) => layerNorm(x, L("ln_1.weight"), L("ln_1.bias"), eps));
    const q = hs.map((h, pos) =>
      heads(linear(L("attn.q_proj.weight"), h), H, dh).map((v) => rotate(v, pos, inv, true)),
    );
    const k = hs.map((h, pos) =>
      heads(linear(L("attn.k_proj.weight"), h), H, dh).map((v) => rotate(v, pos, inv, true)),
    );
    const v = hs.map((h) => heads(linear(L("attn.v_proj.weight"), h), H, dh));
    const z = attend(q, k, v, dh, (h) => o.headMask?.(l, h) ?? 1);
    const attn = z.map((zz) => linear(L("attn.out_proj.weight"), zz));
    r.residMid.push(add(xs[xs.length - 1]!, attn[attn.length - 1]!));
    xs = xs.map((x, pos) => {
      const m = linear(L("mlp.fc_in.weight"), hs[pos]!, L("mlp.fc_in.bias")).map(
        (u, i) => f(u) * (o.neuronMask?.(l, i) ?? 1),
      );
      if (pos === xs.length - 1) r.mlpPost.push(m);
      return add(add(attn[pos]!, linear(L("mlp.fc_out.weight"), m, L("mlp.fc_out.bias"))), x);
    });
  }
  return finish(
    xs,
    (x) => layerNorm(x, t("transformer.ln_f.weight"), t("transformer.ln_f.bias"), eps),
    lnScale(eps),
    t("lm_head.weight"),
    t("lm_head.bias"),
    r,
  );
}

function gpt2(c: Record<string, any>, t: Get, ids: readonly number[], o: ReferenceOptions): ReferenceResult {
  const H = c.n_head,
    D = c.n_embd,
    dh = D / H,
    eps = c.layer_norm_epsilon ?? 1e-5;
  const f = act(c.activation_function ?? "gelu_new");
  let xs: Vec[] = ids.map((id, pos) =>
    add(
      t("transformer.wte.weight").slice(id * D, (id + 1) * D),
      t("transformer.wpe.weight").slice(pos * D, (pos + 1) * D),
    ),
  );
  const r = { residMid: [] as Vec[], mlpPost: [] as Vec[], residPre: [] as Vec[] };
  for (let l = 0; l < c.n_layer; l++) {
    const L = (n: string) => t(`transformer.h.${l}.${n}`);
    r.residPre.push(xs[xs.length - 1]!);
    const qkv = xs.map((x) =>
      conv1d(L("attn.c_attn.weight"), layerNorm(x, L("ln_1.weight"), L("ln_1.bias"), eps), L("attn.c_attn.bias")),
    );
    const q = qkv.map((a) => heads(a.slice(0, D), H, dh)),
      k = qkv.map((a) => heads(a.slice(D, 2 * D), H, dh)),
      v = qkv.map((a) => heads(a.slice(2 * D), H, dh));
    const z = attend(q, k, v, dh, (h) => o.headMask?.(l, h) ?? 1);
    xs = xs.map((x, pos) => add(x, conv1d(L("attn.c_proj.weight"), z[pos]!, L("attn.c_proj.bias"))));
    r.residMid.push(xs[xs.length - 1]!);
    xs = xs.map((x, pos) => {
      const m = conv1d(
        L("mlp.c_fc.weight"),
        layerNorm(x, L("ln_2.weight"), L("ln_2.bias"), eps),
        L("mlp.c_fc.bias"),
      ).map((u, i) => f(u) * (o.neuronMask?.(l, i) ?? 1));
      if (pos === xs.length - 1) r.mlpPost.push(m);
      return add(x, conv1d(L("mlp.c_proj.weight"), m, L("mlp.c_proj.bias")));
    });
  }
  return finish(
    xs,
    (x) => layerNorm(x, t("transformer.ln_f.weight"), t("transformer.ln_f.bias"), eps),
    lnScale(eps),
    t("transformer.wte.weight"),
    undefined,
    r,
  );
}
