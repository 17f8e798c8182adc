/**
 * Rotary embeddings: inv_freq against values transformers' formulas give in torch (float32), and
 * both layouts, partial rotary included, against rotations computed by hand.
 */
import { describe, expect, it } from "vitest";
import type { Rotary } from "../../worker/model/index.ts";
import { GraphBuilder } from "../../worker/onnx/graph.ts";
import { sequence } from "../../worker/onnx/pieces.ts";
import { applyRotary, ropeInvFreq, ropeTables } from "../../worker/onnx/rotary.ts";
import { floatTensor, GraphSession, resolveSessionOptions } from "../../worker/onnx/session.ts";

/**
 * From torch 1.13 running modeling_rope_utils.py's arithmetic: 1.0 / (base ** (arange(0, dim, 2).float() / dim)),
 * then llama3's where/smooth steps or linear's `/ factor`, all float32.
 */
const TORCH = {
  llama32: [
    1.0, 0.663601279258728, 0.44036662578582764, 0.2922278344631195, 0.193922758102417, 0.12868738174438477,
    0.08539710193872452, 0.05666961893439293, 0.03760603070259094, 0.02495540864765644, 0.016560440883040428,
    0.010989529080688953, 0.00729266507551074, 0.00483942124992609, 0.0032114461064338684, 0.0012905480107292533,
    0.000429556705057621, 9.708286233944818e-5, 1.9461638657958247e-5, 1.291476746700937e-5, 8.570255886297673e-6,
    5.687232260243036e-6, 3.7740544485131977e-6, 2.504467147446121e-6, 1.6619674170215148e-6, 1.1028836297555245e-6,
    7.318749339901842e-7, 4.856731266045244e-7, 3.2229328894572973e-7, 2.1387423032592778e-7, 1.4192720243499934e-7,
    9.418306490260875e-8,
  ],
  qwen3: [
    1.0, 0.8058422207832336, 0.6493816375732422, 0.5232991576194763, 0.4216965138912201, 0.33982083201408386,
    0.2738419771194458, 0.22067339718341827, 0.17782793939113617, 0.14330126345157623, 0.11547820270061493,
    0.09305720031261444, 0.07498941570520401, 0.0604296438395977, 0.04869675263762474, 0.03924189880490303,
    0.03162277862429619, 0.025482967495918274, 0.02053525112569332, 0.016548171639442444, 0.01333521492779255,
    0.010746078565716743, 0.00865964312106371, 0.006978305988013744, 0.005623413249850273, 0.004531583748757839,
    0.003651741426438093, 0.002942727180197835, 0.0023713738191872835, 0.001910952851176262, 0.0015399265103042126,
    0.0012409378541633487, 0.0010000000474974513, 0.0008058422245085239, 0.0006493816617876291, 0.0005232990952208638,
    0.00042169648804701865, 0.0003398208355065435, 0.00027384195709601045, 0.00022067342069931328,
    0.00017782794020604342, 0.00014330126577988267, 0.00011547819303814322, 9.305720595875755e-5, 7.498942431993783e-5,
    6.042963650543243e-5, 4.869675467489287e-5, 3.92418987757992e-5, 3.162277425872162e-5, 2.5482966520939954e-5,
    2.0535249859676696e-5, 1.6548170606256463e-5, 1.333521413471317e-5, 1.0746078260126524e-5, 8.659643754072022e-6,
    6.978306373639498e-6, 5.62341347176698e-6, 4.531583726929966e-6, 3.651741280918941e-6, 2.9427271783788456e-6,
    2.3713737391517498e-6, 1.910952960315626e-6, 1.5399265294036013e-6, 1.2409377632138785e-6,
  ],
  linear: [
    0.5, 0.15811388194561005, 0.05000000074505806, 0.015811389312148094, 0.004999999888241291, 0.0015811389312148094,
    0.0005000000237487257, 0.00015811389312148094,
  ],
  gptj: [1.0, 0.009999999776482582],
};

/** Distance in float32 steps (both values are float32). */
function ulps(a: number, b: number): number {
  const bits = new Int32Array(new Float32Array([a, b]).buffer);
  return Math.abs(bits[0]! - bits[1]!);
}

const rotary = (
  dims: number,
  theta: number,
  scaling: Rotary["scaling"],
  layout: Rotary["layout"] = "rotate-half",
): Rotary => ({ layout, dims, theta, scaling });

describe("ropeInvFreq", () => {
  it("matches transformers' float32 arithmetic: default, linear and llama3 (Llama 3.2's parameters)", () => {
    const got = {
      llama32: ropeInvFreq(
        rotary(64, 500000, {
          type: "llama3",
          factor: 32,
          lowFreqFactor: 1,
          highFreqFactor: 4,
          originalMaxPositions: 8192,
        }),
      ),
      qwen3: ropeInvFreq(rotary(128, 1000000, null)),
      linear: ropeInvFreq(rotary(16, 10000, { type: "linear", factor: 2 })),
      gptj: ropeInvFreq(rotary(4, 10000, null, "interleaved")),
    };
    for (const key of Object.keys(TORCH) as Array<keyof typeof TORCH>) {
      expect(got[key]).toHaveLength(TORCH[key].length);
      // torch's vectorised float32 pow may differ from a correctly rounded one in the last bit
      const off = TORCH[key].map((v, i) => ulps(got[key][i]!, v));
      expect(Math.max(...off), key).toBeLessThanOrEqual(1);
      expect(off.filter((d) => d > 0).length, key).toBeLessThanOrEqual(1);
    }
    expect(Array.from(got.llama32)).toEqual(TORCH.llama32);
  });
});

/** Runs applyRotary on x [1, T, 1, dh] and returns [T][dh]. */
async function rotate(x: number[][], r: Rotary): Promise<number[][]> {
  const dh = x[0]!.length;
  const g = new GraphBuilder("rotary");
  const input = g.input("x", "float32", [1, "seq", 1, dh]);
  g.output("y", applyRotary(g, input, ropeTables(g, sequence(g, input), r), r, dh), "float32", [1, "seq", 1, dh]);
  const session = await GraphSession.create(g.toBytes("test"), resolveSessionOptions({ intraOpThreads: 1 }));
  try {
    const y = (await session.run({ x: floatTensor(Float32Array.from(x.flat()), [1, x.length, 1, dh]) }, ["y"])).y!
      .data as Float32Array;
    return x.map((_, t) => Array.from(y.subarray(t * dh, (t + 1) * dh)));
  } finally {
    await session.release();
  }
}

describe("applyRotary", () => {
  // dims 4, theta 10000: inv_freq [1, 0.01]; at position 1 the angles are 1 and 0.01
  const [c1, s1, c2, s2] = [Math.cos(1), Math.sin(1), Math.cos(0.01), Math.sin(0.01)];
  const near = (got: number[], want: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));

  it("rotate-half pairs dim i with i + dims/2; position 0 is unrotated", async () => {
    const [p0, p1] = await rotate(
      [
        [1, 2, 3, 4],
        [1, 2, 3, 4],
      ],
      rotary(4, 10000, null),
    );
    near(p0!, [1, 2, 3, 4]);
    near(p1!, [1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2]);
  });

  it("interleaved pairs dim 2i with 2i + 1 (GPT-J's rotate_every_two)", async () => {
    const [, p1] = await rotate(
      [
        [1, 2, 3, 4],
        [1, 2, 3, 4],
      ],
      rotary(4, 10000, null, "interleaved"),
    );
    near(p1!, [1 * c1 - 2 * s1, 2 * c1 + 1 * s1, 3 * c2 - 4 * s2, 4 * c2 + 3 * s2]);
  });

  it("partial rotary rotates the first dims and passes the rest through, in both layouts", async () => {
    const [, half] = await rotate(
      [
        [1, 2, 3, 4, 5, 6],
        [1, 2, 3, 4, 5, 6],
      ],
      rotary(4, 10000, null),
    );
    near(half!, [1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2, 5, 6]);
    const [, pairs] = await rotate(
      [
        [1, 2, 3, 4, 5, 6],
        [1, 2, 3, 4, 5, 6],
      ],
      rotary(4, 10000, null, "interleaved"),
    );
    near(pairs!, [1 * c1 - 2 * s1, 2 * c1 + 1 * s1, 3 * c2 - 4 * s2, 4 * c2 + 3 * s2, 5, 6]);
  });

  it("linear scaling divides the angles by its factor", async () => {
    const [, p1] = await rotate(
      [
        [1, 0, 0, 0],
        [1, 0, 0, 0],
      ],
      rotary(4, 10000, { type: "linear", factor: 2 }),
    );
    near(p1!, [Math.cos(0.5), 0, Math.sin(0.5), 0]);
  });
});
