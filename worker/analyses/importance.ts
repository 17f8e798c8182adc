/**
 * FFN-neuron importance for batches of cases (METHOD.md section 3), with the efficient exact
 * U-matrix form, or the naive per-neuron projection (test oracle and benchmark baseline).
 *
 * U^l (Ut^l here, [F, V], row k = W_U (g * c(W_out^l[k]))) is prompt-independent. When all layers
 * fit `uBudgetBytes` they are computed once and kept ("precomputed"); otherwise each chunk of
 * neurons is recomputed with a GEMM when it is needed ("chunked"). Neuron chunks are sized so the
 * [B, chunk, V] logsumexp operand stays under `scratchBytes`.
 */
import { buildImportanceGraph, buildLogProbGraph, buildNaiveImportanceGraph, buildUGraph } from "../onnx/attribution.ts";
import type { ModelRunner } from "../onnx/runner.ts";
import { floatTensor, int64Tensor } from "../onnx/session.ts";
import type { Feeds } from "../onnx/session.ts";

export type ImportanceMethod = "u-matrix" | "naive";

export interface ImportanceOptions {
  method?: ImportanceMethod;
  /** Keep every layer's U when L * F * V * 4 bytes fit (default 1 GiB). */
  uBudgetBytes?: number;
  /** Bound on the [B, chunk, V] intermediate (default 256 MiB). */
  scratchBytes?: number;
}

export interface ImportanceInputs {
  batch: number;
  /** [B, L, D] residual after attention (r^l) at the last position */
  residMid: Float32Array;
  /** [B, L, F] FFN coefficients m^l at the last position */
  mlpPost: Float32Array;
  /** [B] frozen final-norm scale s of the original model */
  scale: Float32Array;
  /** [B] token w whose log-probability is scored */
  target: readonly number[];
}

export class NeuronScorer {
  private readonly method: ImportanceMethod;
  private readonly scratchBytes: number;
  private readonly precompute: boolean;
  private readonly uCache = new Map<number, Float32Array>();

  constructor(private readonly runner: ModelRunner, options: ImportanceOptions = {}) {
    const { nLayer: L, dMlp: F, vocabSize: V } = runner.shape;
    this.method = options.method ?? "u-matrix";
    this.scratchBytes = options.scratchBytes ?? 256 * 2 ** 20;
    this.precompute = L * F * V * 4 <= (options.uBudgetBytes ?? 2 ** 30);
  }

  /** "precomputed" or "chunked": how U is held. */
  get uMode(): "precomputed" | "chunked" {
    return this.precompute ? "precomputed" : "chunked";
  }

  /** Imp(l, k) for every case, layer and neuron: [B, L, F]. */
  async score(inp: ImportanceInputs): Promise<Float32Array> {
    const { nLayer: L, dMlp: F, dModel: D, vocabSize: V } = this.runner.shape;
    const B = inp.batch;
    const out = new Float32Array(B * L * F);
    const chunk = Math.max(1, Math.min(F, Math.floor(this.scratchBytes / (B * V * 4))));
    const target = int64Tensor(inp.target, [B]);
    const scale = floatTensor(inp.scale, [B]);
    const graphKey = this.method === "naive" ? "importance-naive" : "importance";
    const session = this.method === "naive"
      ? await this.runner.graph(graphKey, () => buildNaiveImportanceGraph(this.runner.unembedWeights(), D))
      : await this.runner.graph(graphKey, () => buildImportanceGraph(this.runner.unembedWeights(), D));
    for (let l = 0; l < L; l++) {
      const resid = new Float32Array(B * D);
      for (let b = 0; b < B; b++) resid.set(inp.residMid.subarray((b * L + l) * D, (b * L + l + 1) * D), b * D);
      for (let k0 = 0; k0 < F; k0 += chunk) {
        const fc = Math.min(chunk, F - k0);
        const coef = new Float32Array(B * fc);
        for (let b = 0; b < B; b++) coef.set(inp.mlpPost.subarray((b * L + l) * F + k0, (b * L + l) * F + k0 + fc), b * fc);
        const feeds: Feeds = { resid: floatTensor(resid, [B, D]), scale, coef: floatTensor(coef, [B, fc]), target };
        if (this.method === "naive") feeds.w_out = floatTensor(this.runner.mlpOutWeight(l).subarray(k0 * D, (k0 + fc) * D), [fc, D]);
        else feeds.u_t = floatTensor(await this.uChunk(l, k0, fc), [fc, V]);
        const imp = (await this.runner.runGraph(graphKey, session, B, feeds, ["imp"])).imp!.data as Float32Array;
        for (let b = 0; b < B; b++) out.set(imp.subarray(b * fc, (b + 1) * fc), (b * L + l) * F + k0);
      }
    }
    return out;
  }

  /** log p(w | u) under the frozen final norm for N vectors u [N, D]; scale and target per vector. */
  async logProb(vectors: Float32Array, scale: Float32Array, target: readonly number[]): Promise<Float32Array> {
    const D = this.runner.shape.dModel;
    const n = target.length;
    const session = await this.runner.graph("logprob", () => buildLogProbGraph(this.runner.unembedWeights(), D));
    const res = await this.runner.runGraph("logprob", session, n, { vec: floatTensor(vectors, [n, D]), scale: floatTensor(scale, [n]), target: int64Tensor(target, [n]) }, ["logp"]);
    return res.logp!.data as Float32Array;
  }

  /** Ut rows k0..k0+fc of layer l: [fc, V]. */
  private async uChunk(layer: number, k0: number, fc: number): Promise<Float32Array> {
    const { dMlp: F, vocabSize: V } = this.runner.shape;
    if (this.precompute) {
      let u = this.uCache.get(layer);
      if (!u) {
        u = await this.computeU(layer, 0, F);
        this.uCache.set(layer, u);
      }
      return u.subarray(k0 * V, (k0 + fc) * V);
    }
    return this.computeU(layer, k0, fc);
  }

  private async computeU(layer: number, k0: number, fc: number): Promise<Float32Array> {
    const D = this.runner.shape.dModel;
    const session = await this.runner.graph("u-matrix", () => buildUGraph(this.runner.unembedWeights(), D));
    const wOut = this.runner.mlpOutWeight(layer).subarray(k0 * D, (k0 + fc) * D);
    const res = await this.runner.runGraph("u-matrix", session, fc, { w_out: floatTensor(wOut, [fc, D]) }, ["u_t"]);
    return res.u_t!.data as Float32Array;
  }
}
