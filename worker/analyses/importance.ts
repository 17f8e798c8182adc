/**
 * FFN-neuron importance for batches of cases (docs/method.md §3), with the efficient exact
 * U-matrix form, or the naive per-neuron projection (test oracle and benchmark baseline).
 *
 * U^l is held as x^l [F, V] (|x| ≤ 1) and h^l [F] with U^l[:, k] = a_k + h_k x_k (onnx/attribution.ts).
 * It is prompt-independent: when every layer fits `uBudgetBytes` it is computed once per runner
 * and kept ("precomputed"), shared by every scorer on that runner; otherwise blocks of neurons are
 * recomputed with a GEMM inside each score() ("chunked").
 *
 * Per case and layer, z = logits(r^l), p = softmax(z) and log_softmax(z)[w] are computed once.
 * With t = (m_k / s) h_k, Imp(l, k) = t x_k[w] - log S, S = sum_v p_v exp(t x_k[v]):
 * - |t| ≤ SERIES_MAX_T (most pairs): S from the power moments sum_v p_v x_k[v]^n, n ≤ N, a GEMM
 *   each, and Chebyshev coefficients (lse-series.ts; relative error ≤ 1e-7 by construction).
 *   Neurons are grouped by the degree N their largest such |t| needs; each pair then uses the
 *   degree its own |t| needs.
 * - larger |t|: log_softmax(z + t x_k)[w] - log_softmax(z)[w] in log space (LogSoftmax shifts by
 *   the row maximum, so no exp overflows however large t is). *
 * The vocabulary summed over is the scoring unembedding's (ModelRunner.scoringUnembed): one row
 * per class of identical token rows, each counted by its size, when at least half the rows repeat
 * (onnx/vocab-classes.ts); token ids are mapped to their class first.
 */
import { totalmem } from "node:os";
import {
  buildLogProbGraph,
  buildMomentGraph,
  buildNaiveImportanceGraph,
  buildPairGraph,
  buildScaledUGraph,
  buildSoftmaxGraph,
  vocabBlocks,
} from "../onnx/attribution.ts";
import { EngineInputError } from "../onnx/errors.ts";
import type { UnembedWeights } from "../onnx/attribution.ts";
import type { ModelRunner } from "../onnx/runner.ts";
import { floatTensor, int64Tensor } from "../onnx/session.ts";
import type { Feeds } from "../onnx/session.ts";
import { SERIES_MAX_DEGREE, SERIES_MAX_T, seriesCoefficients, seriesDegree } from "./lse-series.ts";

export type ImportanceMethod = "u-matrix" | "naive";
/** u-matrix only: "moments" (default) as above; "log-space" scores every pair in log space (a check). */
export type ImportanceKernel = "moments" | "log-space";

export interface ImportanceOptions {
  method?: ImportanceMethod;
  kernel?: ImportanceKernel;
  /** Precompute U when L * F * (V' + 1) * 4 bytes fit, V' the vocabulary padded to whole blocks (default: {@link defaultUBudgetBytes}). */
  uBudgetBytes?: number;
  /** Bound on a kernel's largest intermediate (default 256 MiB). */
  scratchBytes?: number;
}

export interface ResolvedImportanceOptions {
  method: ImportanceMethod;
  kernel: ImportanceKernel;
  uBudgetBytes: number;
  scratchBytes: number;
}

/** Share of the memory this process may use that U may take by default. */
export const U_BUDGET_FRACTION = 0.4;

/** U_BUDGET_FRACTION of the machine's memory, or of the cgroup limit when one is lower. */
export function defaultUBudgetBytes(): number {
  const total = totalmem();
  const limit = process.constrainedMemory?.() ?? 0;
  return Math.floor((limit > 0 && limit < total ? limit : total) * U_BUDGET_FRACTION);
}

export function resolveImportanceOptions(o: ImportanceOptions = {}): ResolvedImportanceOptions {
  const method = o.method ?? "u-matrix";
  if (method !== "u-matrix" && method !== "naive")
    throw new EngineInputError(
      "method",
      `importance method must be "u-matrix" or "naive", got ${JSON.stringify(method)}`,
    );
  const kernel = o.kernel ?? "moments";
  if (kernel !== "moments" && kernel !== "log-space")
    throw new EngineInputError(
      "kernel",
      `importance kernel must be "moments" or "log-space", got ${JSON.stringify(kernel)}`,
    );
  const uBudgetBytes = o.uBudgetBytes ?? defaultUBudgetBytes();
  if (!(uBudgetBytes >= 0))
    throw new EngineInputError("uBudgetBytes", `uBudgetBytes must be a number ≥ 0, got ${uBudgetBytes}`);
  const scratchBytes = o.scratchBytes ?? 256 * 2 ** 20;
  if (!(scratchBytes > 0))
    throw new EngineInputError("scratchBytes", `scratchBytes must be a number > 0, got ${scratchBytes}`);
  return { method, kernel, uBudgetBytes, scratchBytes };
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

/** How the u-matrix method's (case, neuron) pairs were scored, summed over score() calls. */
export interface KernelCounts {
  /** pairs scored from moments, and the sum over them of the degree their moment run computed (the GEMM work) */
  moments: number;
  degreeSum: number;
  /** pairs scored in log space */
  logSpace: number;
}

/** Rows k0..k0+rows of one layer's scaled U. */
interface UBlock {
  k0: number;
  rows: number;
  /** [nb, rows, W]: x in vocabulary blocks (onnx/attribution.ts vocabBlocks), zero-padded */
  x: Float32Array;
  /** [rows] */
  h: Float32Array;
}

/** Per runner: attribution() and cna() each make a scorer, and U outlives them. */
const U_CACHE = new WeakMap<ModelRunner, Map<number, Promise<UBlock>>>();

/**
 * Rows of x per moment run (~80 of GPT-2's vocabulary): the gathered rows and their powers stay
 * near the cache, while the GEMM's packing of p_t is shared by enough rows.
 */
const MOMENT_CHUNK_BYTES = 16 * 2 ** 20;
/**
 * Below this many x elements times degree, a block's moments go in one run at its largest degree:
 * a run costs more in fixed overhead than the extra degrees (small vocabularies).
 */
const ONE_RUN_ELEMENTS = 2 ** 22;

export class NeuronScorer {
  readonly options: ResolvedImportanceOptions;
  private readonly precompute: boolean;
  private readonly counts: KernelCounts = { moments: 0, degreeSum: 0, logSpace: 0 };

  /** The vocabulary the kernel sums over: the unembedding's rows, or its classes of identical rows. */
  private readonly unembed: UnembedWeights;
  private readonly classOf: Int32Array | null;
  private readonly V: number;

  constructor(
    private readonly runner: ModelRunner,
    options: ImportanceOptions = {},
  ) {
    const { nLayer: L, dMlp: F } = runner.shape;
    this.options = resolveImportanceOptions(options);
    ({ weights: this.unembed, classOf: this.classOf } = runner.scoringUnembed());
    const V = (this.V = this.unembed.unembed.shape[0]!);
    const { blocks, width } = vocabBlocks(V);
    this.precompute = L * F * (blocks * width + 1) * 4 <= this.options.uBudgetBytes;
  }

  /** "precomputed" or "chunked": how U is held. */
  get uMode(): "precomputed" | "chunked" {
    return this.precompute ? "precomputed" : "chunked";
  }

  /** Pairs per kernel so far (u-matrix method). */
  kernelCounts(): KernelCounts {
    return { ...this.counts };
  }

  /** Imp(l, k) for every case, layer and neuron: [B, L, F]. */
  async score(inp: ImportanceInputs): Promise<Float32Array> {
    const { nLayer: L, dMlp: F } = this.runner.shape;
    const out = new Float32Array(inp.batch * L * F);
    for (let l = 0; l < L; l++) {
      if (this.options.method === "naive") await this.scoreNaive(inp, l, out);
      else await this.scoreLayer(inp, l, out);
    }
    return out;
  }

  /** log p(w | u) under the frozen final norm for N vectors u [N, D]; scale and target per vector. */
  async logProb(vectors: Float32Array, scale: Float32Array, target: readonly number[]): Promise<Float32Array> {
    const D = this.runner.shape.dModel;
    const n = target.length;
    const session = await this.runner.graph("logprob", (external) => buildLogProbGraph(this.unembed, D, external));
    const res = await this.runner.runGraph(
      "logprob",
      session,
      n,
      {
        vec: floatTensor(vectors, [n, D]),
        scale: floatTensor(scale, [n]),
        target: int64Tensor(this.rowsOf(target), [n]),
      },
      ["logp"],
    );
    return res.logp!.data as Float32Array;
  }

  /** Scaled U rows k0..k0+rows of `layer`, computed now (not cached). */
  static async computeU(runner: ModelRunner, layer: number, k0: number, rows: number): Promise<UBlock> {
    const D = runner.shape.dModel;
    const session = await runner.graph("u-scaled", (external) =>
      buildScaledUGraph(runner.scoringUnembed().weights, D, external),
    );
    const wOut = runner.mlpOutRows(layer, k0, rows);
    const res = await runner.runGraph("u-scaled", session, rows, { w_out: floatTensor(wOut, [rows, D]) }, ["x_b", "h"]);
    return { k0, rows, x: res.x_b!.data as Float32Array, h: res.h!.data as Float32Array };
  }

  /** Token ids as rows of the scoring unembedding (their classes, when it has them). */
  private rowsOf(tokens: ArrayLike<number>): number[] {
    const classOf = this.classOf;
    return Array.from(tokens, (w) => (classOf ? classOf[w]! : w));
  }

  private async scoreLayer(inp: ImportanceInputs, layer: number, out: Float32Array): Promise<void> {
    const { nLayer: L, dModel: D } = this.runner.shape;
    const V = this.V;
    const targets = this.rowsOf(inp.target);
    const B = inp.batch;
    const session = await this.runner.graph("frozen-softmax", (external) =>
      buildSoftmaxGraph(this.unembed, D, external),
    );
    const soft = await this.runner.runGraph(
      "frozen-softmax",
      session,
      B,
      {
        resid: floatTensor(layerRows(inp.residMid, B, L, D, layer), [B, D]),
        scale: floatTensor(inp.scale, [B]),
        target: int64Tensor(targets, [B]),
      },
      ["z", "p_t", "base"],
    );
    const pT = soft.p_t!.data as Float32Array;
    const mu0 = new Float64Array(B); // sum_v p_v: dividing by it cancels softmax's rounding of the normaliser
    for (let v = 0; v < V; v++) for (let b = 0; b < B; b++) mu0[b]! += pT[v * B + b]!;
    const layerInputs: LayerInputs = {
      inp,
      layer,
      z: soft.z!.data as Float32Array,
      pT,
      base: soft.base!.data as Float32Array,
      mu0,
      targets: Int32Array.from(targets),
    };
    for await (const block of this.blocks(layer)) await this.scoreBlock(layerInputs, block, out);
  }

  private async *blocks(layer: number): AsyncGenerator<UBlock> {
    const F = this.runner.shape.dMlp;
    const V = this.V;
    // The U graph's intermediates are a few times its [rows, V] output.
    const rows = Math.max(1, Math.min(F, Math.floor(this.options.scratchBytes / (4 * V * 4))));
    if (!this.precompute) {
      for (let k0 = 0; k0 < F; k0 += rows)
        yield await NeuronScorer.computeU(this.runner, layer, k0, Math.min(rows, F - k0));
      return;
    }
    let cache = U_CACHE.get(this.runner);
    if (!cache) U_CACHE.set(this.runner, (cache = new Map<number, Promise<UBlock>>()));
    let whole = cache.get(layer);
    if (!whole) {
      whole = (async () => {
        const { blocks, width } = vocabBlocks(V);
        const x = new Float32Array(blocks * F * width);
        const h = new Float32Array(F);
        for (let k0 = 0; k0 < F; k0 += rows) {
          const b = await NeuronScorer.computeU(this.runner, layer, k0, Math.min(rows, F - k0));
          for (let j = 0; j < blocks; j++)
            x.set(b.x.subarray(j * b.rows * width, (j + 1) * b.rows * width), (j * F + k0) * width);
          h.set(b.h, k0);
        }
        return { k0: 0, rows: F, x, h };
      })();
      cache.set(layer, whole);
      whole.catch(() => cache.delete(layer));
    }
    yield await whole;
  }

  private async scoreBlock(li: LayerInputs, block: UBlock, out: Float32Array): Promise<void> {
    const { nLayer: L, dMlp: F } = this.runner.shape;
    const V = this.V;
    const { inp, layer } = li;
    const B = inp.batch;
    const K = block.rows;
    const t = new Float64Array(B * K); // [B, K]
    for (let b = 0; b < B; b++) {
      const m = (b * L + layer) * F + block.k0;
      for (let i = 0; i < K; i++) t[b * K + i] = (inp.mlpPost[m + i]! / inp.scale[b]!) * block.h[i]!;
    }
    const limit = this.options.kernel === "moments" ? SERIES_MAX_T : -1;
    const degree = new Int32Array(K);
    const pairs: number[] = []; // b * K + i
    for (let i = 0; i < K; i++) {
      let largest = -1;
      for (let b = 0; b < B; b++) {
        const a = Math.abs(t[b * K + i]!);
        if (a <= limit) largest = Math.max(largest, a);
        else pairs.push(b * K + i);
      }
      degree[i] = largest < 0 ? 0 : seriesDegree(largest);
    }
    const chunk = Math.max(1, Math.floor(Math.min(MOMENT_CHUNK_BYTES, this.options.scratchBytes / 3) / (V * 4)));
    for (const [n, rows] of degreeGroups(degree, V)) {
      for (let j0 = 0; j0 < rows.length; j0 += chunk)
        await this.moments(li, block, t, limit, n, rows.slice(j0, j0 + chunk), out);
    }
    const perRun = Math.max(1, Math.floor(this.options.scratchBytes / (4 * V * 4)));
    for (let j0 = 0; j0 < pairs.length; j0 += perRun)
      await this.logSpace(li, block, t, pairs.slice(j0, j0 + perRun), out);
  }

  /**
   * Pairs (b, rows[j]) with |t| ≤ limit from moments up to degree n; each pair takes the degree
   * its own |t| needs (≤ n), so its score does not depend on the other cases in the batch.
   */
  private async moments(
    li: LayerInputs,
    block: UBlock,
    t: Float64Array,
    limit: number,
    n: number,
    rows: number[],
    out: Float32Array,
  ): Promise<void> {
    const { nLayer: L, dMlp: F } = this.runner.shape;
    const V = this.V;
    const B = li.inp.batch;
    const K = block.rows;
    const C = rows.length;
    const { blocks, width } = vocabBlocks(V);
    const session = await this.runner.graph(`moments-${n}`, () => buildMomentGraph(n, V));
    const mu = (
      await this.runner.runGraph(
        `moments-${n}`,
        session,
        B,
        {
          p_t: floatTensor(li.pT, [V, B]),
          x_b: floatTensor(block.x, [blocks, K, width]),
          idx: int64Tensor(rows, [C]),
        },
        ["mu"],
      )
    ).mu!.data as Float32Array; // [n * C, B]
    const c = new Float64Array(SERIES_MAX_DEGREE + 1);
    const { mu0, targets } = li;
    const x = block.x;
    let scored = 0;
    for (let j = 0; j < C; j++) {
      const i = rows[j]!;
      for (let b = 0; b < B; b++) {
        const ti = t[b * K + i]!;
        const a = Math.abs(ti);
        if (a > limit) continue; // scored in log space
        const own = seriesDegree(a);
        seriesCoefficients(ti, own, c);
        let s = c[0]! * mu0[b]!;
        for (let d = 1; d <= own; d++) s += c[d]! * mu[((d - 1) * C + j) * B + b]!;
        const w = targets[b]!;
        out[(b * L + li.layer) * F + block.k0 + i] =
          ti * x[(Math.floor(w / width) * K + i) * width + (w % width)]! - Math.log(s / mu0[b]!);
        scored++;
      }
    }
    this.counts.moments += scored;
    this.counts.degreeSum += scored * n;
  }

  /** Pairs b * K + i scored exactly: log_softmax(z_b + t x_i)[w_b] - log_softmax(z_b)[w_b]. */
  private async logSpace(
    li: LayerInputs,
    block: UBlock,
    t: Float64Array,
    pairs: number[],
    out: Float32Array,
  ): Promise<void> {
    const { nLayer: L, dMlp: F } = this.runner.shape;
    const V = this.V;
    const B = li.inp.batch;
    const K = block.rows;
    const P = pairs.length;
    const { blocks, width } = vocabBlocks(V);
    const session = await this.runner.graph("importance-pairs", () => buildPairGraph(V, this.unembed.logCount));
    const cases = pairs.map((q) => Math.floor(q / K));
    const logp = (
      await this.runner.runGraph(
        "importance-pairs",
        session,
        P,
        {
          z: floatTensor(li.z, [B, V]),
          x_b: floatTensor(block.x, [blocks, K, width]),
          case: int64Tensor(cases, [P]),
          row: int64Tensor(
            pairs.map((q) => q % K),
            [P],
          ),
          t: floatTensor(
            Float32Array.from(pairs, (q) => t[q]!),
            [P],
          ),
          target: int64Tensor(
            cases.map((b) => li.targets[b]!),
            [P],
          ),
        },
        ["logp"],
      )
    ).logp!.data as Float32Array;
    pairs.forEach((q, j) => {
      out[(cases[j]! * L + li.layer) * F + block.k0 + (q % K)] = logp[j]! - li.base[cases[j]!]!;
    });
    this.counts.logSpace += P;
  }

  /** The naive per-neuron projection for one layer, in chunks whose [B, chunk, V] logits fit scratchBytes. */
  private async scoreNaive(inp: ImportanceInputs, layer: number, out: Float32Array): Promise<void> {
    const { nLayer: L, dMlp: F, dModel: D, vocabSize: V } = this.runner.shape;
    const B = inp.batch;
    const chunk = Math.max(1, Math.min(F, Math.floor(this.options.scratchBytes / (B * V * 4))));
    const session = await this.runner.graph("importance-naive", (external) =>
      buildNaiveImportanceGraph(this.runner.unembedWeights(), D, external),
    );
    const resid = floatTensor(layerRows(inp.residMid, B, L, D, layer), [B, D]);
    const scale = floatTensor(inp.scale, [B]);
    const target = int64Tensor(inp.target, [B]);
    for (let k0 = 0; k0 < F; k0 += chunk) {
      const fc = Math.min(chunk, F - k0);
      const coef = new Float32Array(B * fc);
      for (let b = 0; b < B; b++)
        coef.set(inp.mlpPost.subarray((b * L + layer) * F + k0, (b * L + layer) * F + k0 + fc), b * fc);
      const feeds: Feeds = {
        resid,
        scale,
        coef: floatTensor(coef, [B, fc]),
        target,
        w_out: floatTensor(this.runner.mlpOutRows(layer, k0, fc), [fc, D]),
      };
      const imp = (await this.runner.runGraph("importance-naive", session, B, feeds, ["imp"])).imp!
        .data as Float32Array;
      for (let b = 0; b < B; b++) out.set(imp.subarray(b * fc, (b + 1) * fc), (b * L + layer) * F + k0);
    }
  }
}

interface LayerInputs {
  inp: ImportanceInputs;
  layer: number;
  /** [B, V] frozen-norm logits, their softmax transposed [V, B], and log_softmax(z)[w] [B] */
  z: Float32Array;
  pT: Float32Array;
  base: Float32Array;
  /** [B] sum of p in float64 */
  mu0: Float64Array;
  /** [B] the target w of each case */
  targets: Int32Array;
}

/** Rows of layer l from per-layer activations [B, L, W] -> [B, W]. */
function layerRows(data: Float32Array, B: number, L: number, W: number, layer: number): Float32Array {
  const out = new Float32Array(B * W);
  for (let b = 0; b < B; b++) out.set(data.subarray((b * L + layer) * W, (b * L + layer + 1) * W), b * W);
  return out;
}

/**
 * Rows with degree > 0 grouped by degree, ascending; one group at the largest degree when the
 * block is small enough that a run's overhead outweighs the extra degrees (ONE_RUN_ELEMENTS).
 */
function degreeGroups(degree: Int32Array, vocab: number): Array<[number, number[]]> {
  const groups = new Map<number, number[]>();
  degree.forEach((n, i) => {
    if (n > 0) (groups.get(n) ?? groups.set(n, []).get(n)!).push(i);
  });
  const sorted = [...groups.entries()].sort((a, b) => a[0] - b[0]);
  const top = sorted.at(-1)?.[0] ?? 0;
  const rows = sorted.reduce((a, [, r]) => a + r.length, 0);
  if (sorted.length > 1 && rows * vocab * top <= ONE_RUN_ELEMENTS) return [[top, sorted.flatMap(([, r]) => r)]];
  return sorted;
}
