import { describe, expect, it } from "vitest";
import { JETSTREAM_DEFAULTS, resolveJetStreamOptions, shardSubject, subjectToken } from "../../transport/index.ts";
import type { JetStreamOptions } from "../../transport/index.ts";

const subjectOf = () => ({ sweep: "s", model: "m" });
const base: JetStreamOptions<unknown> = { servers: "nats://127.0.0.1:4222", subjectOf };

function badField(options: Record<string, unknown>): string | undefined {
  try {
    resolveJetStreamOptions({ ...base, ...options });
    return undefined;
  } catch (err) {
    expect(err).toMatchObject({ name: "SpecError", code: "BAD_SPEC", retryable: false });
    return (err as { field: string }).field;
  }
}

describe("resolveJetStreamOptions", () => {
  it("fills in the documented defaults", () => {
    const o = resolveJetStreamOptions(base);
    expect(o).toMatchObject({
      servers: ["nats://127.0.0.1:4222"],
      auth: { kind: "none" },
      stream: "CNA_SHARDS",
      subjectPrefix: "cna.shards",
      durable: "cna-workers",
      filterSubject: null,
      ackWaitMs: JETSTREAM_DEFAULTS.ackWaitMs,
      maxDeliver: 5,
      duplicateWindowMs: 600_000,
      timeoutMs: 5_000,
      onDead: null,
    });
  });

  it("takes one auth method", () => {
    expect(resolveJetStreamOptions({ ...base, user: "u", pass: "p" }).auth).toEqual({
      kind: "userPass",
      user: "u",
      pass: "p",
    });
    expect(resolveJetStreamOptions({ ...base, token: "t" }).auth).toEqual({ kind: "token", token: "t" });
    expect(resolveJetStreamOptions({ ...base, credsFile: "/x.creds" }).auth).toEqual({
      kind: "creds",
      credsFile: "/x.creds",
    });
    expect(badField({ user: "u" })).toBe("pass");
    expect(badField({ pass: "p" })).toBe("user");
    expect(badField({ user: "u", pass: "p", token: "t" })).toBe("token");
    expect(badField({ token: "t", credsFile: "/x" })).toBe("credsFile");
    expect(badField({ token: "" })).toBe("token");
  });

  it("takes user:pass@ in a URL as the user and password, and cuts it from the URL it prints", () => {
    const o = resolveJetStreamOptions({ ...base, servers: ["nats://cna:p%40ss@a:4222", "tls://cna:p%40ss@b:4222"] });
    expect(o.servers).toEqual(["nats://a:4222", "tls://b:4222"]);
    expect(o.auth).toEqual({ kind: "userPass", user: "cna", pass: "p@ss" });
    expect(badField({ servers: "nats://cna@a:4222" })).toBe("servers");
    expect(badField({ servers: "nats://:p@a:4222" })).toBe("servers");
    expect(badField({ servers: ["nats://u:p@a:4222", "nats://u:q@b:4222"] })).toBe("servers");
    expect(badField({ servers: "nats://u:p@a:4222", token: "t" })).toBe("servers");
    expect(badField({ servers: "nats://u:%zz@a:4222" })).toBe("servers");
    // a refused URL is quoted without its password
    expect(() => resolveJetStreamOptions({ ...base, servers: "http://u:hunter2@a:4222" })).toThrow(
      /^servers: "http:\/\/a:4222" has scheme "http"/,
    );
  });

  it("names the field that is wrong", () => {
    expect(badField({ servers: [] })).toBe("servers");
    expect(badField({ servers: "http://x:4222" })).toBe("servers");
    expect(badField({ servers: ["nats://a:4222", "b c"] })).toBe("servers");
    expect(badField({ stream: "CNA.SHARDS" })).toBe("stream");
    expect(badField({ durable: "w*" })).toBe("durable");
    expect(badField({ subjectPrefix: "cna.*" })).toBe("subjectPrefix");
    expect(badField({ subjectPrefix: "cna..x" })).toBe("subjectPrefix");
    expect(badField({ ackWaitMs: 0 })).toBe("ackWaitMs");
    expect(badField({ maxDeliver: 1.5 })).toBe("maxDeliver");
    expect(badField({ duplicateWindowMs: -1 })).toBe("duplicateWindowMs");
    expect(badField({ timeoutMs: Number.NaN })).toBe("timeoutMs");
    expect(badField({ subjectOf: undefined })).toBe("subjectOf");
    expect(badField({ onDead: "log" })).toBe("onDead");
  });

  it("accepts one filter subject under the prefix and nothing else", () => {
    for (const ok of [
      "cna.shards.*.gpt2",
      "cna.shards.sweep-1.*",
      "cna.shards.*.*",
      "cna.shards.sweep-1.>",
      "cna.shards.>",
    ]) {
      expect(resolveJetStreamOptions({ ...base, filterSubject: ok }).filterSubject).toBe(ok);
    }
    for (const bad of ["cna.other.*.gpt2", "cna.shards.gpt2", "cna.shards.a.b.c", "cna.shards.>.x", "cna.shards"]) {
      expect(badField({ filterSubject: bad })).toBe("filterSubject");
    }
  });
});

describe("subjects", () => {
  it("encodes sweep and model as single tokens, reversibly", () => {
    expect(subjectToken("arith-2l-d64")).toBe("arith-2l-d64");
    expect(subjectToken("pythia-1.4b")).toBe("pythia-1%2E4b");
    expect(subjectToken("a b*>é")).toBe("a%20b%2A%3E%C3%A9");
    expect(decodeURIComponent(subjectToken("org/model.v2 é"))).toBe("org/model.v2 é");
    expect(shardSubject("cna.shards", { sweep: "sw.1", model: "m" })).toBe("cna.shards.sw%2E1.m");
    expect(() => subjectToken("")).toThrow(/empty/);
  });
});
