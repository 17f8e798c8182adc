/**
 * Reference graphs for the attribution kernel's speed, and exp-based alternatives to it.
 *
 * - `ceilingGraph`: one reduction over a [B, C, V] fp32 input, nothing else: how many
 *   exponentials per second ONNX Runtime gives at best. "ReduceLogSumExp" is the op the first
 *   engine kernel used; "max-shift" is the same value from vectorised ops (ReduceMax, Sub, Exp,
 *   ReduceSum, Log, Add); "exp-sum" is Log(ReduceSum(Exp(x))) with no shift (safe only for
 *   bounded inputs, as here); "LogSoftmax" is ONNX Runtime's fused softmax kernel with one
 *   column gathered (what the engine's log-space pairs use). Any kernel that takes one
 *   exponential per vocabulary entry per neuron·case is bounded by the best of them.
 * - `momentGemmGraph`: x [C, V] times p_t [V, B], the GEMM the engine's moment kernel runs once
 *   per degree, alone (no powers, no gather): its MACs per second.
 * - `prototypeScore`: NeuronScorer's numbers (docs/method.md §3) from exp-based kernels over
 *   precomputed U, for comparison only (the engine uses moments). Logits z are computed once per
 *   layer; the neurons go in tiles:
 *     "max-shift":        lse_k = m_k + log sum_v exp(z_v + c_k U_kv - m_k), m_k = max_v(...)
 *     "softmax-weighted": lse_k = lse(z) + log sum_v softmax(z)_v exp(c_k U_kv)
 *   ("softmax-weighted" has no overflow guard: it breaks once a neuron moves a logit by more
 *   than ~88 nats.)
 */
import {
  buildUGraph,
  floatTensor,
  GraphBuilder,
  GraphSession,
  int64Tensor,
  resolveSessionOptions,
} from "../worker/onnx/index.ts";
import type { Attr, ExternalWeights } from "../worker/onnx/index.ts";
import type { ImportanceInputs } from "../worker/analyses/index.ts";
import type { ModelRunner, Tensor } from "../worker/index.ts";

const int = (value: number): Attr => ({ kind: "int", value });
const ints = (value: number[]): Attr => ({ kind: "ints", value });

export const CEILING_OPS = ["ReduceLogSumExp", "max-shift", "exp-sum", "LogSoftmax"] as const;
export type CeilingOp = (typeof CEILING_OPS)[number];
export type PrototypeKernel = "max-shift" | "softmax-weighted";
export const PROTOTYPE_KERNELS: readonly PrototypeKernel[] = ["max-shift", "softmax-weighted"];

/** log sum_v exp(x[..., v]) as ONNX ops, numerically stable. x [..., V] -> [..., 1] */
function maxShiftLse(g: GraphBuilder, x: string): string {
  const m = g.op("ReduceMax", [x], { axes: ints([-1]), keepdims: int(1) });
  const sum = g.op("ReduceSum", [g.op("Exp", [g.op("Sub", [x, m])]), g.constant("int64", [-1])], { keepdims: int(1) });
  return g.op("Add", [g.op("Log", [sum]), m]);
}

/** x [B, C, V] -> lse [B, C] */
export function ceilingGraph(op: CeilingOp): Uint8Array {
  const g = new GraphBuilder(`ceiling_${op}`);
  const x = g.input("x", "float32", ["b", "c", "v"]);
  const lse =
    op === "ReduceLogSumExp"
      ? g.op("ReduceLogSumExp", [x], { axes: ints([-1]), keepdims: int(0) })
      : op === "max-shift"
        ? g.op("Squeeze", [maxShiftLse(g, x), g.constant("int64", [2])])
        : op === "exp-sum"
          ? g.op("Log", [g.op("ReduceSum", [g.op("Exp", [x]), g.constant("int64", [-1])], { keepdims: int(0) })])
          : g.op("Gather", [g.op("LogSoftmax", [x], { axis: int(-1) }), g.constant("int64", [0], [])], {
              axis: int(2),
            }); // -lse + x[0]
  g.output("lse", lse, "float32", ["b", "c"]);
  return g.toBytes("cna-sweep-bench");
}

/** x [C, V] times p_t [V, B] -> [C, B]: one degree of the engine's moment kernel. */
export function momentGemmGraph(): Uint8Array {
  const g = new GraphBuilder("moment_gemm");
  g.output(
    "mu",
    g.op("MatMul", [g.input("x", "float32", ["c", "v"]), g.input("p_t", "float32", ["v", "b"])]),
    "float32",
    ["c", "b"],
  );
  return g.toBytes("cna-sweep-bench");
}

/** A standalone CPU session with the options the engine's runner gets. */
export function createSession(model: Uint8Array, intraOpThreads: number): Promise<GraphSession> {
  return GraphSession.create(
    model,
    resolveSessionOptions({ intraOpThreads, onNotice: (m) => process.stderr.write(`${m}\n`) }),
  );
}

/** Deterministic values in [-4, 4): logits-like magnitudes, no exp overflow. */
export function filledInput(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = ((Math.imul(i, 2654435761) >>> 8) / 2 ** 24) * 8 - 4;
  return x;
}

/**
 * Inputs resid [B, D], scale [B], target [B] -> z [B, V], p [B, V], z_t [B, 1], lse_z [B, 1]
 * (frozen final norm). The unembedding points into the weight files when the runner's graphs do.
 */
function prepGraph(runner: ModelRunner, external: ExternalWeights | undefined): Uint8Array {
  const u = runner.unembedWeights();
  const D = runner.shape.dModel;
  const g = new GraphBuilder("proto_prep");
  const param = (hint: string, t: Tensor) => {
    const ref = external?.(t);
    return ref ? g.externalWeight(hint, t.shape, ref) : g.weight(hint, t.data, t.shape);
  };
  const wU = param("w_u", u.unembed);
  const gain = param("g_final", u.normWeight);
  const resid = g.input("resid", "float32", ["b", D]);
  const scale = g.op("Unsqueeze", [g.input("scale", "float32", ["b"]), g.constant("int64", [1])]);
  const target = g.op("Unsqueeze", [g.input("target", "int64", ["b"]), g.constant("int64", [1])]);
  let x = g.op("Div", [resid, scale]);
  if (u.centre) x = g.op("Sub", [x, g.op("ReduceMean", [x], { axes: ints([-1]), keepdims: int(1) })]);
  const z = g.op("Gemm", [g.op("Mul", [x, gain]), wU], { transB: int(1) }); // [B, V]
  g.output("z", z, "float32", ["b", "v"]);
  g.output("p", g.op("Softmax", [z], { axis: int(-1) }), "float32", ["b", "v"]);
  g.output("z_t", g.op("GatherElements", [z, target], { axis: int(1) }), "float32", ["b", 1]);
  g.output("lse_z", maxShiftLse(g, z), "float32", ["b", 1]);
  return g.toBytes("cna-sweep-bench");
}

/** Inputs z or p [B, V], z_t, lse_z [B, 1], c [B, T] (= m / s), u_t [T, V], target [B] -> imp [B, T]. */
function kernelGraph(kind: PrototypeKernel): Uint8Array {
  const g = new GraphBuilder(`proto_${kind}`);
  const zt = g.input("z_t", "float32", ["b", 1]);
  const lseZ = g.input("lse_z", "float32", ["b", 1]);
  const c = g.input("c", "float32", ["b", "t"]);
  const uT = g.input("u_t", "float32", ["t", "v"]);
  const target = g.input("target", "int64", ["b"]);
  const cU = g.op("Mul", [g.op("Unsqueeze", [c, g.constant("int64", [2])]), uT]); // [B, T, V]
  let lse: string; // [B, T]
  if (kind === "max-shift") {
    const z = g.input("z", "float32", ["b", "v"]);
    const x = g.op("Add", [cU, g.op("Unsqueeze", [z, g.constant("int64", [1])])]);
    lse = g.op("Squeeze", [maxShiftLse(g, x), g.constant("int64", [2])]);
  } else {
    const p = g.op("Unsqueeze", [g.input("p", "float32", ["b", "v"]), g.constant("int64", [2])]); // [B, V, 1]
    const weighted = g.op("Squeeze", [g.op("MatMul", [g.op("Exp", [cU]), p]), g.constant("int64", [2])]); // [B, T]
    lse = g.op("Add", [g.op("Log", [weighted]), lseZ]);
  }
  const uAtTarget = g.op("Transpose", [g.op("Gather", [uT, target], { axis: int(1) })], { perm: ints([1, 0]) }); // [B, T]
  const logp = g.op("Sub", [g.op("Add", [zt, g.op("Mul", [c, uAtTarget])]), lse]);
  // base = log_softmax(z)[w] = z_t - lse_z
  g.output("imp", g.op("Sub", [logp, g.op("Sub", [zt, lseZ])]), "float32", ["b", "t"]);
  return g.toBytes("cna-sweep-bench");
}

/** U^T of every layer of `runner` (unscaled, for the prototypes): per layer [F, V]. */
export async function computeU(runner: ModelRunner): Promise<Float32Array[]> {
  const D = runner.shape.dModel;
  // Same key as neuronTopTokens, so the session is shared when both run.
  const session = await runner.graph("u-matrix", (external) => buildUGraph(runner.unembedWeights(), D, external));
  const out: Float32Array[] = [];
  for (let l = 0; l < runner.shape.nLayer; l++) {
    const w = runner.mlpOutRows(l, 0, runner.shape.dMlp);
    const res = await session.run({ w_out: floatTensor(w, [w.length / D, D]) }, ["u_t"]);
    out.push(res.u_t!.data as Float32Array);
  }
  return out;
}

/** Imp [B, L, F] like NeuronScorer.score, with a prototype kernel over precomputed U. */
export async function prototypeScore(
  runner: ModelRunner,
  kind: PrototypeKernel,
  u: readonly Float32Array[],
  inp: ImportanceInputs,
  tile: number,
): Promise<Float32Array> {
  const { nLayer: L, dMlp: F, dModel: D, vocabSize: V } = runner.shape;
  const B = inp.batch;
  const prep = await runner.graph("proto-prep", (external) => prepGraph(runner, external));
  const kernel = await runner.graph(`proto-${kind}`, () => kernelGraph(kind));
  const out = new Float32Array(B * L * F);
  const target = int64Tensor(inp.target, [B]);
  for (let l = 0; l < L; l++) {
    const resid = new Float32Array(B * D);
    for (let b = 0; b < B; b++) resid.set(inp.residMid.subarray((b * L + l) * D, (b * L + l + 1) * D), b * D);
    const pre = await prep.run({ resid: floatTensor(resid, [B, D]), scale: floatTensor(inp.scale, [B]), target }, [
      "z",
      "p",
      "z_t",
      "lse_z",
    ]);
    const fixed = {
      z_t: pre.z_t!,
      lse_z: pre.lse_z!,
      target,
      ...(kind === "max-shift" ? { z: pre.z! } : { p: pre.p! }),
    };
    for (let k0 = 0; k0 < F; k0 += tile) {
      const t = Math.min(tile, F - k0);
      const c = new Float32Array(B * t);
      for (let b = 0; b < B; b++) {
        for (let k = 0; k < t; k++) c[b * t + k] = inp.mlpPost[(b * L + l) * F + k0 + k]! / inp.scale[b]!;
      }
      const feeds = {
        ...fixed,
        c: floatTensor(c, [B, t]),
        u_t: floatTensor(u[l]!.subarray(k0 * V, (k0 + t) * V), [t, V]),
      };
      const imp = (await kernel.run(feeds, ["imp"])).imp!.data as Float32Array;
      for (let b = 0; b < B; b++) out.set(imp.subarray(b * t, (b + 1) * t), (b * L + l) * F + k0);
    }
  }
  return out;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
