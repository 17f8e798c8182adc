/**
 * Runs a loaded checkpoint's instrumented graphs on batches of token sequences.
 *
 * Sequences are right-padded (causal attention makes the padding invisible to the real tokens)
 * and every output is read at each row's last real token. Graph variants are built on first use
 * and cached; `close()` releases their sessions.
 */
import type { ModelConfig } from "../model/config.ts";
import type { Gpt2Weights } from "../model/gpt2-weights.ts";
import { buildGpt2Graph } from "./gpt2.ts";
import type { GraphOutput } from "./gpt2.ts";
import { floatTensor, int64Tensor, resolveSessionOptions, SessionCache } from "./session.ts";
import type { Feeds, GraphSession, SessionOptions } from "./session.ts";
import type { UnembedWeights } from "./attribution.ts";
import { EngineInputError } from "./errors.ts";

export interface ForwardRequest {
  /** One token sequence per row. With startLayer > 0 only their lengths are used. */
  sequences: readonly (readonly number[])[];
  outputs: readonly GraphOutput[];
  /** [B, L, H] multipliers (1 keeps a head, 0 ablates it); default all ones. */
  headMask?: Float32Array;
  /** [B, L, F] multipliers on the FFN coefficients; default all ones. */
  neuronMask?: Float32Array;
  /** Start at this layer from `residIn` [B, T, D] (the residual entering it at every position). */
  startLayer?: number;
  residIn?: Float32Array;
}

export interface ForwardResult {
  batch: number;
  /** Padded sequence length. */
  seqLen: number;
  outputs: Partial<Record<GraphOutput, Float32Array>>;
}

export interface ModelShape {
  nLayer: number;
  nHead: number;
  dModel: number;
  dMlp: number;
  vocabSize: number;
  nPositions: number;
}

export class ModelRunner {
  private readonly sessions: SessionCache;
  readonly shape: ModelShape;

  constructor(
    readonly name: string,
    private readonly config: ModelConfig,
    private readonly weights: Gpt2Weights,
    options: SessionOptions = {},
  ) {
    this.sessions = new SessionCache(resolveSessionOptions(options));
    this.shape = {
      nLayer: config.nLayer, nHead: config.nHead, dModel: config.dModel, dMlp: config.dMlp,
      vocabSize: config.vocabSize, nPositions: config.nPositions,
    };
  }

  get provider(): string {
    return this.sessions.options.provider;
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const { nLayer: L, nHead: H, dMlp: F, dModel: D, vocabSize: V, nPositions: P } = this.shape;
    const B = req.sequences.length;
    if (B === 0) throw new EngineInputError("batch", `${this.name}: empty batch`);
    const start = req.startLayer ?? 0;
    const lengths = req.sequences.map((s) => s.length);
    const T = Math.max(...lengths);
    if (Math.min(...lengths) === 0) throw new EngineInputError("sequence", `${this.name}: empty token sequence`);
    if (T > P) {
      throw new EngineInputError("sequence", `${this.name}: a prompt of ${T} tokens is longer than n_positions = ${P}`);
    }
    const feeds: Feeds = {
      last_index: int64Tensor(lengths.map((n) => n - 1), [B]),
      head_mask: floatTensor(checkedMask(req.headMask, B * L * H, "head mask", `[${B}, ${L}, ${H}]`), [B, L, H]),
      neuron_mask: floatTensor(checkedMask(req.neuronMask, B * L * F, "neuron mask", `[${B}, ${L}, ${F}]`), [B, L, F]),
    };
    if (start === 0) {
      const ids = new Array<number>(B * T).fill(0);
      req.sequences.forEach((seq, b) => seq.forEach((tok, t) => {
        if (!Number.isInteger(tok) || tok < 0 || tok >= V) {
          throw new EngineInputError("token", `${this.name}: token id ${tok} is outside the vocabulary (0..${V - 1})`);
        }
        ids[b * T + t] = tok;
      }));
      feeds.input_ids = int64Tensor(ids, [B, T]);
    } else {
      if (!req.residIn || req.residIn.length !== B * T * D) {
        throw new EngineInputError("resid_in", `${this.name}: resid_in must hold [${B}, ${T}, ${D}] values`);
      }
      feeds.resid_in = floatTensor(req.residIn, [B, T, D]);
    }
    const outputs = [...new Set(req.outputs)].sort();
    const key = `gpt2|${start}|${outputs.join(",")}`;
    const session = await this.sessions.get(key, () => buildGpt2Graph(this.config, this.weights, { startLayer: start, outputs: new Set(outputs) }));
    const fetched = await session.run(feeds, outputs);
    const result: ForwardResult = { batch: B, seqLen: T, outputs: {} };
    for (const o of outputs) result.outputs[o] = fetched[o]!.data as Float32Array;
    return result;
  }

  /** A session for a graph of this model other than the forward graph (attribution kernels). */
  graph(key: string, build: () => Uint8Array): Promise<GraphSession> {
    return this.sessions.get(key, build);
  }

  /** The unembedding and final norm as the frozen-norm projection needs them (METHOD.md section 3). */
  unembedWeights(): UnembedWeights {
    return { unembed: this.weights.lmHead ?? this.weights.wte, normWeight: this.weights.lnF.weight, centre: true };
  }

  /** W_out of layer l: [F, D], row k is neuron k's output direction. */
  mlpOutWeight(layer: number): Float32Array {
    return this.weights.layers[layer]!.mlpOut.weight.data;
  }

  async close(): Promise<void> {
    await this.sessions.close();
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
