/**
 * Asking for CUDA where its provider cannot load falls back to CPU, and says so once per
 * process — not once per graph (a worker builds dozens of graphs per model).
 */
import { describe, expect, it } from "vitest";
import { GraphBuilder, GraphSession, resolveSessionOptions } from "../../worker/onnx/index.ts";

function identityGraph(): Uint8Array {
  const g = new GraphBuilder("identity");
  const x = g.input("x", "float32", [1]);
  g.output("y", x, "float32", [1]);
  return g.toBytes("cna-sweep test");
}

describe("CUDA fallback notice", () => {
  it("is printed once per process across sessions and option objects", async () => {
    const notices: string[] = [];
    const a = resolveSessionOptions({ provider: "cuda", onNotice: (m) => notices.push(m) });
    const b = resolveSessionOptions({ provider: "cuda", onNotice: (m) => notices.push(m) });
    const first = await GraphSession.create(identityGraph(), a);
    const more = await Promise.all([
      GraphSession.create(identityGraph(), a),
      GraphSession.create(identityGraph(), b),
      GraphSession.create(identityGraph(), b),
    ]);
    const sessions = [first, ...more];
    // where the CUDA provider really loads there is nothing to announce
    const expected = first.provider === "cuda" ? 0 : 1;
    expect(notices).toHaveLength(expected);
    if (expected === 1) {
      expect(notices[0]).toMatch(/CUDA execution provider could not be loaded .*running on CPU/);
      expect(sessions.every((s) => s.provider === "cpu")).toBe(true);
    }
    await Promise.all(sessions.map((s) => s.release()));
  });
});
