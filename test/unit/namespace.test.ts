/**
 * Namespaces on a shared NATS server: which names are accepted (and the error that names the
 * field or flag otherwise), the stream and subjects a namespace gets, and the default a
 * coordinator derives from its data directory.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NAMESPACE_PATTERN, checkNamespace, namespaceOfDataDir } from "../../app/index.ts";
import { resolveNatsOptions } from "../../app/nats.ts";
import { natsOptionsOf } from "../../cli/connect.ts";
import { namespaceNames } from "../../transport/index.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-namespace-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(f: () => unknown): { code: string; field: string; message: string } {
  try {
    f();
  } catch (err) {
    return err as { code: string; field: string; message: string };
  }
  throw new Error("not refused");
}

describe("checkNamespace", () => {
  it("accepts 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit", () => {
    for (const ok of ["a", "0", "prod", "team-a_2", "dir-0123456789ab", "x".repeat(32)])
      expect(checkNamespace("namespace", ok)).toBe(ok);
  });

  it("refuses anything else, naming the field", () => {
    for (const bad of ["", "-a", "_a", "Prod", "a.b", "a*", "a>", "a b", "é", "x".repeat(33), 7, undefined]) {
      const err = refusal(() => checkNamespace("--namespace", bad));
      expect(err).toMatchObject({ code: "BAD_SPEC", field: "--namespace" });
      expect(err.message).toMatch(/^--namespace must be 1 to 32 characters/);
    }
  });
});

describe("namespaceNames", () => {
  it("gives each namespace its own stream and subjects, apart from the stream of releases without namespaces", () => {
    expect(namespaceNames("prod")).toEqual({
      stream: "CNA_SHARDS_prod",
      subjectPrefix: "cna.ns.prod.shards",
      durable: "cna-workers",
    });
    // `cna.shards.>` (stream CNA_SHARDS) and another namespace's subjects never overlap ours:
    // JetStream refuses two streams with overlapping subjects
    for (const ns of ["shards", "a", "b"]) {
      const tokens = namespaceNames(ns).subjectPrefix.split(".");
      expect(tokens.slice(0, 2)).toEqual(["cna", "ns"]);
      expect(tokens[2]).toBe(ns);
    }
    expect(() => namespaceNames("a.b")).toThrow(/namespace must be/);
  });
});

describe("namespaceOfDataDir", () => {
  it("is the same for the same directory, by any path, and differs between directories", async () => {
    const a = join(dir, "a");
    const b = join(dir, "b");
    mkdirSync(b);
    const first = await namespaceOfDataDir(a);
    expect(existsSync(a)).toBe(true); // created, so its real path can be had
    expect(first).toMatch(NAMESPACE_PATTERN);
    expect(first).toMatch(/^dir-[0-9a-f]{12}$/);
    expect(await namespaceOfDataDir(a)).toBe(first);
    expect(await namespaceOfDataDir(join(dir, "b", "..", "a"))).toBe(first);
    symlinkSync(a, join(dir, "link-to-a"));
    expect(await namespaceOfDataDir(join(dir, "link-to-a"))).toBe(first);
    expect(await namespaceOfDataDir(b)).not.toBe(first);
  });
});

describe("namespace options", () => {
  it("resolveNatsOptions checks a given namespace, naming the option", () => {
    expect(resolveNatsOptions("transport.nats", { servers: "nats://127.0.0.1:4222", namespace: "ok" }).namespace).toBe(
      "ok",
    );
    expect(resolveNatsOptions("transport.nats", { servers: "nats://127.0.0.1:4222" }).namespace).toBeUndefined();
    expect(
      refusal(() => resolveNatsOptions("transport.nats", { servers: "nats://127.0.0.1:4222", namespace: "A.B" })),
    ).toMatchObject({ code: "BAD_SPEC", field: "transport.nats.namespace" });
  });

  it("the CLI reads --namespace, else $CNA_NAMESPACE, and names the one it refuses", () => {
    const nats = { nats: "nats://127.0.0.1:4222" };
    expect(natsOptionsOf({ ...nats, namespace: "flag" }, { CNA_NAMESPACE: "env" }).namespace).toBe("flag");
    expect(natsOptionsOf(nats, { CNA_NAMESPACE: "env" }).namespace).toBe("env");
    expect(natsOptionsOf(nats, {}).namespace).toBeUndefined();
    expect(refusal(() => natsOptionsOf({ ...nats, namespace: "no/slash" }, {}))).toMatchObject({
      code: "USAGE",
      message: expect.stringMatching(/^--namespace must be/),
    });
    // an empty variable is refused, not read as unset
    expect(refusal(() => natsOptionsOf(nats, { CNA_NAMESPACE: "" }))).toMatchObject({
      message: expect.stringMatching(/^\$CNA_NAMESPACE must be/),
    });
  });
});
