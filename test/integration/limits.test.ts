/**
 * SubmitSweep over real gRPC refuses what would exhaust the coordinator, each with a named error
 * (RESOURCE_EXHAUSTED, code LIMIT_EXCEEDED) naming the limit's flag: a 50,000-level nesting, an
 * alias bomb, an oversized file, too many cells, too many shards, an oversized message. The
 * coordinator keeps serving afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Coordinator, startSweepServer } from "../../coordinator/index.ts";
import type { SweepServer } from "../../coordinator/index.ts";
import { MemoryShardQueue } from "../../core/index.ts";
import type { ShardTask } from "../../core/index.ts";
import { createSweepClient } from "../../proto/index.ts";
import type { SweepServiceClient } from "../../proto/index.ts";
import { errorCodeOf, failure, unary } from "../helpers/grpc.ts";
import { digestPath } from "../helpers/digest.ts";

const SMALL = `name: small
models: [{ id: m, path: /nonexistent/m }]
operators: ["+"]
digits: [1]
stages: [head-ablation]
`;

describe("SubmitSweep limits", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-limits-"));
  const queue = new MemoryShardQueue<ShardTask>({ groupOf: (t) => t.sweepId });
  let coordinator: Coordinator;
  let server: SweepServer;
  let client: SweepServiceClient;
  beforeAll(async () => {
    coordinator = new Coordinator({ dataDir: dir, queue, limits: { maxCells: 8 }, digestModel: digestPath });
    await coordinator.start();
    server = await startSweepServer({ backend: coordinator, port: 0, maxMessageBytes: 3 << 20 });
    client = createSweepClient(server.address, {});
  });
  afterAll(async () => {
    client.close();
    await server.close();
    await queue.close();
    coordinator.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const submit = (sweepYaml: string) => unary(client, client.submitSweep, { sweepYaml, sourceName: "attack.yaml" });

  const TOO_DEEP = /nests mappings and lists deeper than the limit of 32 levels \(--max-yaml-depth raises it\)/;
  const refused: Array<[string, () => string, RegExp]> = [
    [
      "50,000 levels of flow nesting",
      () => `name: deep\nmodels: ${"[".repeat(50_000)}${"]".repeat(50_000)}\n`,
      TOO_DEEP,
    ],
    [
      "deep block nesting",
      () => `name: deep\n${Array.from({ length: 40 }, (_, i) => `${"  ".repeat(i)}k${i}:`).join("\n")} 1\n`,
      TOO_DEEP,
    ],
    // 100 KB of text; the parser recursing through it ran out of stack, or crashed the process
    // with an out-of-memory error in V8's regular-expression compiler
    ["50,000 levels of compact block sequences (- - - ...)", () => `${"- ".repeat(50_000)}x\n`, TOO_DEEP],
    ["50,000 compact levels under a key", () => `name: deep\nmodels:\n  ${"- ".repeat(50_000)}x\n`, TOO_DEEP],
    [
      "1,000 levels of indented mappings",
      () => `${Array.from({ length: 1_000 }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n")} 1\n`,
      TOO_DEEP,
    ],
    [
      "50,000 chained pairs inside [ ] (nested mappings to the parser)",
      () => `name: deep\nmodels: [${"a: ".repeat(50_000)}b]\n`,
      TOO_DEEP,
    ],
    ["33 levels, one over the limit", () => `name: deep\nmodels: ${"[".repeat(32)}${"]".repeat(32)}\n`, TOO_DEEP],
    [
      "a billion-laughs alias bomb",
      () =>
        `name: lol\na: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n` +
        Array.from(
          { length: 8 },
          (_, i) =>
            `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
              .fill(`*${String.fromCharCode(97 + i)}`)
              .join(",")}]`,
        ).join("\n") +
        "\n",
      /has 72 aliases, over the limit of 100|expand beyond 100 nodes each \(--max-yaml-aliases raises it\)/,
    ],
    [
      "a 2 MiB sweep file",
      () => `name: big\n# ${"x".repeat(2 << 20)}\n`,
      /has 2097\d{3} bytes, over the limit of 1048576 \(--max-sweep-bytes raises it\)/,
    ],
    [
      "more cells than --max-cells",
      () =>
        SMALL.replace('operators: ["+"]', 'operators: ["+", "-", "*", "/"]').replace(
          "digits: [1]",
          "digits: [1, 2, 3]",
        ),
      /has 12 cells \(1 models × 4 operators × 3 digit ranges × 1 templates\), over the limit of 8 \(--max-cells raises it\)/,
    ],
    [
      "an 810,000-shard sweep",
      () =>
        SMALL.replace(
          "models: [{ id: m, path: /nonexistent/m }]",
          "models: [{ id: m, path: /nonexistent/m }, { id: n, path: /nonexistent/n }]",
        )
          .replace('operators: ["+"]', 'operators: ["+", "-"]')
          .replace("digits: [1]", "digits: [3]") + "cases: { sample: all }\nshard: { pairs: 1 }\n",
      /plans \d+ shards, over the limit of 250000 \(--max-shards raises it\)/,
    ],
  ];
  it.each(refused)("refuses %s with RESOURCE_EXHAUSTED naming the flag", async (_name, text, message) => {
    const err = await failure(submit(text()));
    expect([err.code, errorCodeOf(err)], err.details).toEqual([status.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED"]);
    expect(err.details).toMatch(message);
  });

  it("does not refuse a sweep file exactly at the depth limit for its depth", async () => {
    const err = await failure(submit(`name: deep\nmodels: ${"[".repeat(31)}${"]".repeat(31)}\n`));
    expect([err.code, errorCodeOf(err)], err.details).toEqual([status.INVALID_ARGUMENT, "BAD_SPEC"]);
    expect(err.details).toMatch(/models\[0\]/);
  });

  it("refuses a message over --max-message-bytes at the transport", async () => {
    const err = await failure(submit(`name: huge\n# ${"x".repeat(4 << 20)}\n`));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("still accepts a sweep within the limits afterwards", async () => {
    const sweep = await submit(SMALL);
    expect(sweep.id).toMatch(/^small-/);
    expect(coordinator.list().map((s) => s.name)).toEqual(["small"]);
  });
});
