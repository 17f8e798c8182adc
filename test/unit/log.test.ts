/**
 * The logger (core/log.ts), the log flags (cli/log.ts) and the coordinator's view of workers
 * (coordinator/presence.ts): levels, both formats, quoting, secrets redacted, flags refused by
 * name, a worker joined at its first report and left after the quiet time, on an injected clock.
 */
import { describe, expect, it } from "vitest";
import { createLogger } from "../../core/index.ts";
import { WorkerPresence } from "../../coordinator/index.ts";
import { loggerOf } from "../../cli/log.ts";

const AT = new Date("2026-12-04T08:00:00.000Z");

function capture(level: "error" | "warn" | "info" | "debug", format: "text" | "json" = "text") {
  const lines: string[] = [];
  return { lines, log: createLogger({ level, format, write: (l) => lines.push(l), now: () => AT }) };
}

describe("createLogger", () => {
  it("writes text lines with ISO time, level and fields, quoting values with spaces and leaving out undefined ones", () => {
    const { lines, log } = capture("info");
    log.info("sweep submitted", { sweep: "zoo-1", cells: 20, reason: "a b", none: undefined, empty: "" });
    log.child({ worker: "w1" }).warn("shard failed", { code: "X" });
    expect(lines).toEqual([
      '2026-12-04T08:00:00.000Z INFO sweep submitted sweep=zoo-1 cells=20 reason="a b" empty=""',
      "2026-12-04T08:00:00.000Z WARN shard failed worker=w1 code=X",
    ]);
  });

  it("writes lines at its level and above only", () => {
    const { lines, log } = capture("warn");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(lines.map((l) => l.split(" ")[1])).toEqual(["WARN", "ERROR"]);
    expect([log.enabled("info"), log.enabled("warn")]).toEqual([false, true]);
  });

  it("writes one JSON object per line whose fields cannot override time, level or msg", () => {
    const { lines, log } = capture("debug", "json");
    log.debug("x", { level: "forged", shard: "s1", n: Number.NaN });
    expect(JSON.parse(lines[0]!)).toEqual({ time: AT.toISOString(), level: "debug", msg: "x", shard: "s1", n: "NaN" });
  });

  it("never writes a field named like a secret", () => {
    const { lines, log } = capture("info", "json");
    log.info("connect", { token: "s3cr3t-value-123456", natsPassword: "p", authorization: "Bearer z" });
    expect(lines[0]).not.toMatch(/s3cr3t|"p"|Bearer/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ token: "[redacted]", natsPassword: "[redacted]" });
  });

  it("refuses an unknown level or format, naming the field", () => {
    expect(() => createLogger({ write: () => undefined, level: "loud" as never })).toThrow(/level must be/);
    expect(() => createLogger({ write: () => undefined, format: "xml" as never })).toThrow(/format must be/);
  });
});

describe("log flags", () => {
  const linesOf = (v: Record<string, string | boolean>) => {
    const out: string[] = [];
    const log = loggerOf(v, { write: (s: string) => out.push(s) }, () => AT);
    log.debug("d");
    log.info("i");
    log.warn("w");
    return out;
  };

  it("default to info in text; -v is debug; --log-level warn drops info; --log-format json", () => {
    expect(linesOf({})).toEqual([`${AT.toISOString()} INFO i\n`, `${AT.toISOString()} WARN w\n`]);
    expect(linesOf({ verbose: true })).toHaveLength(3);
    expect(linesOf({ "log-level": "warn" })).toEqual([`${AT.toISOString()} WARN w\n`]);
    expect(linesOf({ "log-format": "json" }).map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["i", "w"]);
  });

  it("are refused by name when wrong", () => {
    expect(() => linesOf({ "log-level": "loud" })).toThrow(/--log-level must be/);
    expect(() => linesOf({ "log-format": "xml" })).toThrow(/--log-format must be/);
    expect(() => linesOf({ verbose: true, "log-level": "warn" })).toThrow(/-v means --log-level debug/);
  });
});

describe("WorkerPresence", () => {
  it("tells a worker joined at its first report and left once quiet for quietMs, and joined again after", () => {
    let now = 1_000_000;
    const events: string[] = [];
    const p = new WorkerPresence({
      quietMs: 60_000,
      now: () => now,
      onJoined: (w) => events.push(`joined ${w}`),
      onLeft: (w, ms) => events.push(`left ${w} ${ms}`),
    });
    p.seen("a");
    p.seen("a");
    now += 30_000;
    p.seen("b");
    now += 29_999;
    p.check();
    expect(events).toEqual(["joined a", "joined b"]);
    now += 1;
    p.check();
    expect(events).toEqual(["joined a", "joined b", "left a 60000"]);
    expect(p.present()).toEqual(["b"]);
    p.seen("a");
    expect(events.at(-1)).toBe("joined a");
  });
});
