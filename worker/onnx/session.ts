/**
 * ONNX Runtime sessions: provider choice with a clear CPU fallback, thread counts, and a cache
 * keyed by graph variant so an analysis builds and loads each graph once.
 */
import * as ort from "onnxruntime-node";
import { EXECUTION_PROVIDERS } from "../../core/index.ts";

import type { Provider } from "../../core/index.ts";

export type { Provider };

export interface SessionOptions {
  /** Execution provider to ask for (default "cpu"). "cuda" falls back to CPU with a warning. */
  provider?: Provider;
  /** Threads inside one operator (default: ONNX Runtime's choice, one per core). */
  intraOpThreads?: number;
  /**
   * Whether intra-op worker threads spin while waiting for work (default false). Every graph
   * variant has its own session and thread pool, and an analysis alternates between variants;
   * spinning threads of the idle ones, and of other processes on a shared machine, take cores
   * from the one running. Spinning can still win for a lone session running tiny batches.
   */
  intraOpSpinning?: boolean;
  /** Called with human-readable notices (provider fallback). Default: stderr. */
  onNotice?: (message: string) => void;
}

export interface ResolvedSessionOptions {
  provider: Provider;
  intraOpThreads: number;
  intraOpSpinning: boolean;
  onNotice: (message: string) => void;
}

export function resolveSessionOptions(o: SessionOptions = {}): ResolvedSessionOptions {
  const provider = o.provider ?? "cpu";
  if (!EXECUTION_PROVIDERS.includes(provider))
    throw new RangeError(`provider must be "cpu" or "cuda", got "${String(provider)}"`);
  const threads = o.intraOpThreads ?? 0;
  if (!Number.isInteger(threads) || threads < 0)
    throw new RangeError(`intraOpThreads must be a non-negative integer, got ${threads}`);
  const spinning = o.intraOpSpinning ?? false;
  if (typeof spinning !== "boolean") throw new RangeError(`intraOpSpinning must be a boolean, got ${String(spinning)}`);
  return {
    provider,
    intraOpThreads: threads,
    intraOpSpinning: spinning,
    onNotice: o.onNotice ?? ((m) => process.stderr.write(`${m}\n`)),
  };
}

/**
 * Why the CUDA provider failed to load in this process, once it has: every later session goes
 * straight to CPU, and the fallback is announced once per process, not once per graph.
 */
let cudaFailure: string | undefined;

/**
 * The execution providers this onnxruntime-node build knows, as Describe shows them: "cpu" and
 * the others it ships, and those needing a separate install marked so ("cuda (separate install)").
 */
export function availableProviders(): string[] {
  return ort.listSupportedBackends().map((b) => (b.bundled ? b.name : `${b.name} (separate install)`));
}

/** Per graph, beside the process-wide options. */
export interface GraphOptions {
  /**
   * Whether ONNX Runtime packs the graph's constant weight matrices into its GEMM layout when it
   * loads it: faster products, most at small batches, but a packed copy of the weights in every
   * session (ONNX Runtime's session option session.disable_prepacking, inverted).
   */
  prepackWeights: boolean;
}

export type Feeds = Record<string, ort.Tensor>;
export type Fetches = Record<string, ort.Tensor>;

/** One loaded graph. */
export class GraphSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly provider: Provider,
  ) {}

  /** `model` is the serialised graph, or the path of an .onnx file (needed for external data). */
  static async create(
    model: Uint8Array | string,
    options: ResolvedSessionOptions,
    graph: GraphOptions = { prepackWeights: true },
  ): Promise<GraphSession> {
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: "all",
      ...(options.intraOpThreads > 0 ? { intraOpNumThreads: options.intraOpThreads } : {}),
      extra: {
        session: {
          intra_op: { allow_spinning: options.intraOpSpinning ? "1" : "0" },
          disable_prepacking: graph.prepackWeights ? "0" : "1",
        },
      },
    };
    if (options.provider === "cuda" && cudaFailure === undefined) {
      try {
        return new GraphSession(await createSession(model, { ...base, executionProviders: ["cuda"] }), "cuda");
      } catch (err) {
        // another session may have failed meanwhile and said so already
        if (cudaFailure === undefined) {
          cudaFailure = firstLine(err);
          options.onNotice(
            `cna: the CUDA execution provider could not be loaded (${cudaFailure}); running on CPU. ` +
              "Install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12 to use the GPU.",
          );
        }
      }
    }
    return new GraphSession(await createSession(model, { ...base, executionProviders: ["cpu"] }), "cpu");
  }

  async run(feeds: Feeds, fetches?: readonly string[]): Promise<Fetches> {
    return fetches ? this.session.run(feeds, fetches as string[]) : this.session.run(feeds);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Sessions by key, built on first use; `close()` releases them all. */
export class SessionCache {
  private readonly sessions = new Map<string, Promise<GraphSession>>();

  constructor(readonly options: ResolvedSessionOptions) {}

  get(key: string, build: () => Uint8Array | string, graph?: GraphOptions): Promise<GraphSession> {
    let s = this.sessions.get(key);
    if (!s) {
      s = GraphSession.create(build(), this.options, graph);
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  get size(): number {
    return this.sessions.size;
  }

  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    // A session that failed to build has nothing to release; every other one is released.
    await Promise.allSettled(all.map(async (s) => (await s).release()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export function floatTensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor("float32", data, dims);
}

export function int64Tensor(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  return new ort.Tensor("int64", BigInt64Array.from(Array.from(values, (v) => BigInt(v))), dims);
}

function createSession(
  model: Uint8Array | string,
  o: ort.InferenceSession.SessionOptions,
): Promise<ort.InferenceSession> {
  return typeof model === "string" ? ort.InferenceSession.create(model, o) : ort.InferenceSession.create(model, o);
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split("\n")[0] ?? "unknown error";
}
