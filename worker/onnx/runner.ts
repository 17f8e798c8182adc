/**
 * Runs a loaded checkpoint's instrumented graphs on batches of token sequences.
 *
 * Sequences are right-padded (causal attention makes the padding invisible to the real tokens).
 * `forward` reads every output at each row's last real token; `readout` reads top-1 and P(target)
 * at chosen positions of each row (head ablation). Graph variants are built on first use and
 * cached; `close()` releases their sessions.
 */
import type { ModelConfig } from "../model/config.ts";
import type { TensorSource } from "../model/weight-files.ts";
import { allTensors, tensorKey, tensorRows, weightBytes } from "../model/weights.ts";
import type { ModelWeights, Tensor } from "../model/weights.ts";
import { defaultWeightCacheDir, float32Cache, GraphFiles } from "./graph-files.ts";
import { buildModelGraph, buildReadoutGraph } from "./model-graph.ts";
import type { GraphOutput } from "./model-graph.ts";
import type { ExternalWeights } from "./params.ts";
import { floatTensor, int64Tensor, resolveSessionOptions, SessionCache } from "./session.ts";
import type { Feeds, Fetches, GraphSession, Provider, SessionOptions } from "./session.ts";
import type { UnembedWeights } from "./attribution.ts";
import { EngineInputError, NonFiniteError } from "./errors.ts";
import { vocabClasses } from "./vocab-classes.ts";

export interface ForwardRequest {
  /** One token sequence per row. With startLayer > 0 only their lengths are used. */
  sequences: readonly (readonly number[])[];
  outputs: readonly GraphOutput[];
  /** [B, L, H] multipliers (1 keeps a head, 0 ablates it); default all ones. */
  headMask?: Float32Array;
  /** [B, L, F] multipliers on the FFN coefficients; without one the graph scales none. */
  neuronMask?: Float32Array;
  /** Start at this layer from `residIn` [B, T, D] (the residual entering it at every position). */
  startLayer?: number;
  residIn?: Float32Array;
}

/** A position of a row to read, and the token whose probability is wanted there. */
export interface Read {
  index: number;
  target: number;
}

export interface ReadoutRequest {
  sequences: readonly (readonly number[])[];
  /** Per row, at least one read (a row carries every case whose prompt is a prefix of its sequence). */
  reads: readonly (readonly Read[])[];
  /** [B, L, H] multipliers (1 keeps a head, 0 ablates it); default all ones. Not with `sweep`. */
  headMask?: Float32Array;
  /** Every single-head ablation of the rows in one run, instead of one head mask per row (see buildReadoutGraph). */
  sweep?: boolean;
}

export interface ReadoutResult {
  /** Reads per row: rows with fewer reads repeat their last one. */
  reads: number;
  /** [N, reads] top-1 token at each read; N = B, or B (1 + L H) for a sweep. */
  top1: Float32Array;
  /** [N, reads] softmax probability of the read's target. */
  targetProb: Float32Array;
}

export interface ForwardResult {
  batch: number;
  /** Padded sequence length. */
  seqLen: number;
  outputs: Partial<Record<GraphOutput, Float32Array>>;
}

export interface RunnerOptions extends SessionOptions {
  /**
   * "auto" (default): graphs of checkpoints whose weights exceed `externalAboveBytes` point into
   * the safetensors file (ONNX external data) instead of copying every weight into the graph;
   * "always" / "never" force the choice.
   */
  externalWeights?: "auto" | "always" | "never";
  /** default 256 MiB */
  externalAboveBytes?: number;
  /**
   * With external weights, where tensors that are not float32 in the checkpoint (F16, BF16) are
   * kept converted, one file per checkpoint digest (see graph-files.ts). Default: the OS cache
   * directory's cna-sweep/weights; null keeps the converted file with the runner's graphs only.
   */
  weightCacheDir?: string | null;
  /** The checkpoint's content digest: the weight cache's key (without one the cache is not kept). */
  digest?: string;
  /**
   * Whether ONNX Runtime packs each graph's weight matrices into its GEMM layout when it loads the
   * graph (GraphOptions.prepackWeights): matrix products up to ~2x faster, but one packed copy of
   * the weights per graph variant, and seconds per gigabyte to make it. Default: false when the
   * graphs point into files and the weights exceed {@link PREPACK_MAX_BYTES}, so that every graph
   * variant reads the one copy the OS maps from them; true otherwise. The default depends on the
   * model alone, never on the machine: the two paths round differently in the last bits.
   */
  prepackWeights?: boolean;
  /**
   * Told after every ONNX Runtime run of this model's graphs ({@link ModelRunner.runGraph}): the
   * graph variant's key, the batch (rows), wall milliseconds and the provider the session runs
   * on (CPU after a CUDA fallback). For metrics, so the engine itself stays free of them.
   */
  onRun?: (graphKey: string, batch: number, ms: number, provider: Provider) => void;
}

/**
 * Float32 weight bytes up to which graphs that point into files are still prepacked by default:
 * a packed copy per graph variant is affordable there (GPT-2 small: 0.5 GB), and a batch-1 forward
 * of GPT-2 small runs ~1.5-2x faster prepacked. Above it (Llama-3.2-1B: 4.9 GB) the copies, one
 * per graph variant an analysis uses, would outgrow the machine.
 */
export const PREPACK_MAX_BYTES = 2 ** 30;

export class ModelRunner {
  private readonly sessions: SessionCache;
  private graphFiles: GraphFiles | null;
  /** Float32 sources of the tensors the checkpoint holds in another dtype (by tensorKey), once external weights need them. */
  private converted: Map<unknown, TensorSource>;
  /** Whether this runner's sessions prepack their weights (RunnerOptions.prepackWeights, resolved). */
  readonly prepackWeights: boolean;
  private readonly onRun: RunnerOptions["onRun"];
  private scoring: { weights: UnembedWeights; classOf: Int32Array | null } | undefined;
  /** The model's dimensions (its config), as the analyses read them. */
  readonly shape: ModelConfig;

  constructor(
    readonly name: string,
    private readonly config: ModelConfig,
    private readonly weights: ModelWeights,
    options: RunnerOptions = {},
  ) {
    this.sessions = new SessionCache(resolveSessionOptions(options));
    this.onRun = options.onRun;
    const mode = options.externalWeights ?? "auto";
    const bytes = weightBytes(weights);
    const large = bytes > (options.externalAboveBytes ?? 256 * 2 ** 20);
    this.converted = new Map();
    this.graphFiles = null;
    if (mode === "always" || (mode === "auto" && large)) {
      const cacheDir = options.weightCacheDir === undefined ? defaultWeightCacheDir() : options.weightCacheDir;
      const keep = cacheDir !== null && options.digest !== undefined;
      try {
        if (keep) this.converted = float32Cache(weights, cacheDir, options.digest!);
        const anchor = allTensors(weights)
          .map((t) => t.source ?? this.converted.get(tensorKey(t)))
          .find((x) => x !== undefined)?.file;
        this.graphFiles = new GraphFiles(name, anchor);
        if (!keep) this.converted = float32Cache(weights, this.graphFiles.dir, "converted");
      } catch (err) {
        this.graphFiles?.remove();
        this.graphFiles = null;
        this.converted = new Map();
        this.sessions.options.onNotice(
          `cna: ${name}: cannot point graphs at the weight files (${(err as Error).message}); copying the weights into the graphs instead`,
        );
      }
    }
    this.prepackWeights = options.prepackWeights ?? (this.graphFiles === null || bytes <= PREPACK_MAX_BYTES);
    this.shape = config;
  }

  get provider(): string {
    return this.sessions.options.provider;
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const { nLayer: L, nHead: H, dMlp: F, dModel: D } = this.shape;
    const start = req.startLayer ?? 0;
    const tokens = this.tokenFeeds(req.sequences, start === 0);
    const { B, T } = tokens;
    const feeds: Feeds = {
      ...tokens.feeds,
      last_index: int64Tensor(
        req.sequences.map((s) => s.length - 1),
        [B],
      ),
      head_mask: floatTensor(checkedMask(req.headMask, B * L * H, "head mask", `[${B}, ${L}, ${H}]`), [B, L, H]),
    };
    if (req.neuronMask !== undefined)
      feeds.neuron_mask = floatTensor(checkedMask(req.neuronMask, B * L * F, "neuron mask", `[${B}, ${L}, ${F}]`), [
        B,
        L,
        F,
      ]);
    if (start > 0) {
      if (!req.residIn || req.residIn.length !== B * T * D) {
        throw new EngineInputError("resid_in", `${this.name}: resid_in must hold [${B}, ${T}, ${D}] values`);
      }
      feeds.resid_in = floatTensor(req.residIn, [B, T, D]);
    }
    const outputs = [...new Set(req.outputs)].sort();
    const neuronMask = req.neuronMask !== undefined;
    const key = `forward|${start}|${outputs.join(",")}${neuronMask ? "|nm" : ""}`;
    const variant = { startLayer: start, neuronMask, outputs: new Set(outputs) };
    const session = await this.weightedSession(key, (external) =>
      buildModelGraph(this.config, this.weights, { ...variant, external }),
    );
    const fetched = await this.runGraph(key, session, B, feeds, outputs);
    const result: ForwardResult = { batch: B, seqLen: T, outputs: {} };
    for (const o of outputs) result.outputs[o] = this.finite(o, fetched[o]!.data as Float32Array, fetched[o]!.dims);
    return result;
  }

  /** Top-1 token and P(target) at each row's reads, with a head mask or as a sweep of every head (head ablation). */
  async readout(req: ReadoutRequest): Promise<ReadoutResult> {
    const { nLayer: L, nHead: H, vocabSize: V } = this.shape;
    const { B, feeds } = this.tokenFeeds(req.sequences, true);
    if (req.reads.length !== B)
      throw new EngineInputError("reads", `${this.name}: ${req.reads.length} read lists for ${B} rows`);
    const R = Math.max(...req.reads.map((r) => r.length));
    const index = new Array<number>(B * R);
    const target = new Array<number>(B * R);
    req.reads.forEach((list, b) => {
      if (list.length === 0) throw new EngineInputError("reads", `${this.name}: row ${b} has nothing to read`);
      for (let i = 0; i < R; i++) {
        const r = list[Math.min(i, list.length - 1)]!;
        if (!Number.isInteger(r.index) || r.index < 0 || r.index >= req.sequences[b]!.length) {
          throw new EngineInputError(
            "reads",
            `${this.name}: row ${b} read position ${r.index} is outside its ${req.sequences[b]!.length} tokens`,
          );
        }
        if (!Number.isInteger(r.target) || r.target < 0 || r.target >= V) {
          throw new EngineInputError(
            "target",
            `${this.name}: target token ${r.target} is outside the vocabulary (0..${V - 1})`,
          );
        }
        index[b * R + i] = r.index;
        target[b * R + i] = r.target;
      }
    });
    feeds.read_index = int64Tensor(index, [B, R]);
    feeds.target = int64Tensor(target, [B, R]);
    const sweep = req.sweep ?? false;
    if (sweep && req.headMask)
      throw new EngineInputError("head mask", `${this.name}: a sweep ablates every head itself; it takes no head mask`);
    if (!sweep)
      feeds.head_mask = floatTensor(checkedMask(req.headMask, B * L * H, "head mask", `[${B}, ${L}, ${H}]`), [B, L, H]);
    const key = sweep ? "head-sweep" : "readout";
    const session = await this.weightedSession(key, (external) =>
      buildReadoutGraph(this.config, this.weights, { sweep, external }),
    );
    const fetched = await this.runGraph(key, session, B, feeds, ["top1", "target_prob"]);
    return {
      reads: R,
      top1: fetched["top1"]!.data as Float32Array,
      targetProb: this.finite(
        "target_prob",
        fetched["target_prob"]!.data as Float32Array,
        fetched["target_prob"]!.dims,
      ),
    };
  }

  /** input_ids (when the graph starts from tokens) for right-padded sequences, checked. */
  private tokenFeeds(
    sequences: readonly (readonly number[])[],
    withIds: boolean,
  ): { B: number; T: number; feeds: Feeds } {
    const { vocabSize: V, nPositions: P } = this.shape;
    const B = sequences.length;
    if (B === 0) throw new EngineInputError("batch", `${this.name}: empty batch`);
    const lengths = sequences.map((s) => s.length);
    const T = Math.max(...lengths);
    if (Math.min(...lengths) === 0) throw new EngineInputError("sequence", `${this.name}: empty token sequence`);
    if (T > P) {
      throw new EngineInputError("sequence", `${this.name}: a prompt of ${T} tokens is longer than n_positions = ${P}`);
    }
    // The graphs attend to every earlier position; within the window that is what a sliding-window model does too.
    const window = this.shape.slidingWindow;
    if (window !== null && T > window) {
      throw new EngineInputError(
        "sequence",
        `${this.name}: a prompt of ${T} tokens is longer than the model's sliding_window = ${window}`,
      );
    }
    const feeds: Feeds = {};
    if (withIds) {
      const ids = new Array<number>(B * T).fill(0);
      sequences.forEach((seq, b) =>
        seq.forEach((tok, t) => {
          if (!Number.isInteger(tok) || tok < 0 || tok >= V) {
            throw new EngineInputError(
              "token",
              `${this.name}: token id ${tok} is outside the vocabulary (0..${V - 1})`,
            );
          }
          ids[b * T + t] = tok;
        }),
      );
      feeds.input_ids = int64Tensor(ids, [B, T]);
    }
    return { B, T, feeds };
  }

  /**
   * The session of a graph over this model's weights: initializers inside it, or, with external
   * weights, references into the weight files (the graph then written beside them).
   */
  private weightedSession(
    key: string,
    build: (external: ExternalWeights | undefined) => Uint8Array,
  ): Promise<GraphSession> {
    return this.sessions.get(
      key,
      () => {
        const files = this.graphFiles;
        if (files === null) return build(undefined);
        return files.write(
          key,
          build((t: Tensor) => {
            const source = t.source ?? this.converted.get(tensorKey(t));
            return source === undefined ? undefined : files.refer(source);
          }),
        );
      },
      { prepackWeights: this.prepackWeights },
    );
  }

  /**
   * A session for a graph of this model other than the forward graphs (attribution kernels);
   * `build` receives the external-weights resolver when the runner uses one.
   */
  graph(key: string, build: (external: ExternalWeights | undefined) => Uint8Array): Promise<GraphSession> {
    return this.weightedSession(key, build);
  }

  /** Runs one of this runner's sessions on `batch` rows, timed for the `onRun` option. */
  async runGraph(
    graphKey: string,
    session: GraphSession,
    batch: number,
    feeds: Feeds,
    fetches: readonly string[],
  ): Promise<Fetches> {
    if (!this.onRun) return session.run(feeds, fetches);
    const started = performance.now();
    const fetched = await session.run(feeds, fetches);
    this.onRun(graphKey, batch, performance.now() - started, session.provider);
    return fetched;
  }

  /**
   * `data` when every value is finite; otherwise a NonFiniteError naming the output and, when
   * its second dimension is the layers ([batch, layer, ...]), the first layer holding one.
   */
  private finite(name: string, data: Float32Array, dims: readonly number[]): Float32Array {
    for (let i = 0; i < data.length; i++) {
      if (Number.isFinite(data[i]!)) continue;
      const L = this.shape.nLayer;
      const inner = dims.slice(2).reduce((a, b) => a * b, 1);
      const layer = dims.length >= 2 && dims[1] === L && name !== "logits" ? Math.floor(i / inner) % L : undefined;
      throw new NonFiniteError(
        name,
        layer,
        `${this.name}: the model's ${name}${layer === undefined ? "" : ` at layer ${layer}`} holds ${data[i]} (first at flat index ${i}): its weights are broken (NaN or overflowing values), so no result of it can be trusted`,
      );
    }
    return data;
  }

  /**
   * The unembedding and final norm as the frozen-norm projection needs them (docs/method.md §3):
   * LayerNorm centres, RMSNorm does not; the final norm's bias and any unembedding bias are dropped.
   */
  unembedWeights(): UnembedWeights {
    return {
      unembed: this.weights.unembed,
      normWeight: this.weights.finalNorm.weight,
      centre: this.config.norm === "layernorm",
    };
  }

  /**
   * The unembedding as the importance kernel sums over it: one row per class of identical token
   * rows when at least half the rows repeat (vocab-classes.ts), with `classOf` mapping a token to
   * its row; otherwise unembedWeights() and null. Computed once per runner.
   */
  scoringUnembed(): { weights: UnembedWeights; classOf: Int32Array | null } {
    if (this.scoring === undefined) {
      const full = this.unembedWeights();
      const classes = vocabClasses(full.unembed);
      this.scoring = classes
        ? { weights: { ...full, unembed: classes.unembed, logCount: classes.logCount }, classOf: classes.classOf }
        : { weights: full, classOf: null };
    }
    return this.scoring;
  }

  /**
   * Rows k0..k0+rows of layer l's W_out as [rows, D]: row k is neuron k's output direction. One
   * range for [in, out] weights; gathered for [out, in] ones, where a neuron's direction is a
   * column. Read from the checkpoint when the weights are not in memory (tensorRows).
   */
  mlpOutRows(layer: number, k0: number, rows: number): Float32Array {
    const { dModel: D, dMlp: F } = this.config;
    const w = this.weights.layers[layer]!.mlpOut.weight;
    if (this.weights.layout === "in-out") return tensorRows(w, [k0 * D], rows * D);
    const columns = tensorRows(
      w,
      Array.from({ length: D }, (_, d) => d * F + k0),
      rows,
    ); // [D, rows]
    const out = new Float32Array(rows * D);
    for (let d = 0; d < D; d++) for (let i = 0; i < rows; i++) out[i * D + d] = columns[d * rows + i]!;
    return out;
  }

  /** True when forward graphs point into the checkpoint file instead of holding the weights. */
  get externalWeights(): boolean {
    return this.graphFiles !== null;
  }

  async close(): Promise<void> {
    await this.sessions.close();
    this.graphFiles?.remove();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function checkedMask(mask: Float32Array | undefined, size: number, what: string, shape: string): Float32Array {
  if (mask === undefined) return new Float32Array(size).fill(1);
  if (mask.length !== size) throw new EngineInputError(what, `${what} must hold ${shape} values, got ${mask.length}`);
  return mask;
}
