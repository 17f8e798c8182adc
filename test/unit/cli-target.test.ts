/**
 * Where a remote command connects (cli/target.ts, cli/config.ts): each setting from the flag,
 * else the environment, else the chosen context of the config file, else the default; the
 * config file found through $CNA_CONFIG, $XDG_CONFIG_HOME or $HOME; a bad file or an unknown
 * context refused naming the file and the field; `cna context set|use|list` writing and reading
 * it. Every test has its own temp HOME and XDG directories.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { configPath } from "../../cli/config.ts";
import { main } from "../../cli/main.ts";
import { coordinatorTarget, workerTarget } from "../../cli/target.ts";

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "cna-target-"));
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(home, { recursive: true, force: true });
});

const TOKEN_A = "token-from-flag-file-0123";
const TOKEN_B = "token-from-env-file-0123";
const TOKEN_C = "token-from-env-itself-0123";
const TOKEN_D = "token-from-context-file-0123";

/** A config file under $HOME/.config/cna with contexts lab (current) and prod, and the token files. */
function setUp(): NodeJS.ProcessEnv {
  const cfgDir = join(home, ".config", "cna");
  mkdirSync(cfgDir, { recursive: true });
  writeFileSync(join(home, "a.token"), TOKEN_A);
  writeFileSync(join(home, "b.token"), TOKEN_B);
  writeFileSync(join(cfgDir, "d.token"), TOKEN_D);
  writeFileSync(join(cfgDir, "ca.pem"), "not read here");
  writeFileSync(
    join(cfgDir, "config.yaml"),
    `# my coordinators
current-context: lab
contexts:
  lab:
    coordinator: lab.example:7070
    token-file: d.token
    tls-ca: ca.pem
  prod:
    coordinator: prod.example:443
`,
  );
  return { HOME: home };
}

describe("the coordinator's address", () => {
  it("comes from the flag, else $CNA_COORDINATOR, else the context, else the default", () => {
    const env = setUp();
    const at = (flags: Record<string, string>, e: NodeJS.ProcessEnv) => coordinatorTarget(flags, e).peer;
    expect(at({ coordinator: "flag.example:1" }, { ...env, CNA_COORDINATOR: "env.example:2" })).toEqual({
      kind: "coordinator",
      address: "flag.example:1",
      source: "--coordinator",
    });
    expect(at({}, { ...env, CNA_COORDINATOR: "env.example:2" })).toMatchObject({
      address: "env.example:2",
      source: "$CNA_COORDINATOR",
    });
    expect(at({}, env)).toMatchObject({ address: "lab.example:7070", source: "context lab" });
    expect(at({ context: "prod" }, env)).toMatchObject({ address: "prod.example:443", source: "context prod" });
    expect(at({}, { ...env, CNA_CONTEXT: "prod" })).toMatchObject({ address: "prod.example:443" });
    expect(at({ context: "lab" }, { ...env, CNA_CONTEXT: "prod" })).toMatchObject({ address: "lab.example:7070" });
    expect(at({}, { HOME: join(home, "nobody") })).toEqual({
      kind: "coordinator",
      address: "127.0.0.1:7070",
      source: "default",
    });
  });

  it("the token: --token-file, else $CNA_TOKEN_FILE, else $CNA_TOKEN, else the context's token-file", () => {
    const env = setUp();
    const token = (flags: Record<string, string>, e: NodeJS.ProcessEnv) => coordinatorTarget(flags, e).options.token;
    const all = { ...env, CNA_TOKEN_FILE: join(home, "b.token"), CNA_TOKEN: TOKEN_C };
    expect(token({ "token-file": join(home, "a.token") }, all)).toBe(TOKEN_A);
    expect(token({}, all)).toBe(TOKEN_B);
    expect(token({}, { ...env, CNA_TOKEN: TOKEN_C })).toBe(TOKEN_C);
    expect(token({}, env)).toBe(TOKEN_D);
    expect(token({ context: "prod" }, env)).toBeUndefined();
    // the context's files are relative to the config file; a flag overrides them
    expect(coordinatorTarget({}, env).options.tls).toEqual({ caPath: join(home, ".config", "cna", "ca.pem") });
    expect(coordinatorTarget({ "tls-ca": "/x/ca.pem" }, env).options.tls).toEqual({ caPath: "/x/ca.pem" });
  });

  it("a worker's address is --worker only; its token may come from the context", () => {
    const env = setUp();
    expect(workerTarget({}, env)).toMatchObject({
      peer: { kind: "worker", address: "127.0.0.1:7071" },
      options: { token: TOKEN_D },
    });
  });
});

describe("the config file", () => {
  it("is $CNA_CONFIG, else under $XDG_CONFIG_HOME, else under $HOME/.config", () => {
    expect(configPath({ CNA_CONFIG: "/etc/cna.yaml", XDG_CONFIG_HOME: "/xdg", HOME: "/h" })).toBe("/etc/cna.yaml");
    expect(configPath({ XDG_CONFIG_HOME: "/xdg", HOME: "/h" })).toBe("/xdg/cna/config.yaml");
    expect(configPath({ XDG_CONFIG_HOME: "relative", HOME: "/h" })).toBe("/h/.config/cna/config.yaml");
  });

  it("refuses an unknown context, naming the file and where the name came from", () => {
    const env = setUp();
    const file = join(home, ".config", "cna", "config.yaml");
    expect(() => coordinatorTarget({ context: "staging" }, env)).toThrow(
      expect.objectContaining({
        code: "UNKNOWN_CONTEXT",
        file,
        message: expect.stringContaining(`no context "staging" (from --context) in ${file}; it has lab, prod`),
      }),
    );
    writeFileSync(file, "current-context: gone\ncontexts: {}\n");
    expect(() => coordinatorTarget({}, env)).toThrow(
      expect.objectContaining({ code: "UNKNOWN_CONTEXT", source: "current-context" }),
    );
  });

  it.each([
    ["contexts: [\n", ""],
    ["contexts: [a, b]\n", "contexts"],
    ["current-context: 3\n", "current-context"],
    ["servers: {}\n", "servers"],
    ["contexts:\n  lab: { coordinatr: a:1 }\n", "contexts.lab.coordinatr"],
    ["contexts:\n  lab: { token-file: 7 }\n", "contexts.lab.token-file"],
    ["current-context: lab\ncontexts:\n  lab: { coordinator: no-port }\n", "contexts.lab.coordinator"],
  ])("refuses a malformed file (%j), naming the field %j", (text, field) => {
    const file = join(home, "cfg.yaml");
    writeFileSync(file, text);
    expect(() => coordinatorTarget({}, { HOME: home, CNA_CONFIG: file })).toThrow(
      expect.objectContaining({ code: "BAD_CLI_CONFIG", file, field, message: expect.stringContaining(file) }),
    );
  });
});

describe("cna context", () => {
  /** main() with captured output, and the config file in a temp XDG directory */
  async function cna(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = "";
    let err = "";
    const code = await main(argv, {
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (err += t) },
    });
    return { code, out, err };
  }

  it("sets, uses and lists contexts, keeping comments and the others", async () => {
    setUp();
    vi.stubEnv("HOME", home);
    vi.stubEnv("CNA_CONFIG", "");
    vi.stubEnv("XDG_CONFIG_HOME", join(home, "xdg"));
    const file = join(home, "xdg", "cna", "config.yaml");
    expect(await cna("context", "list")).toMatchObject({ code: 0, out: "" });
    expect(await cna("context", "set", "lab", "--coordinator", "10.0.0.5:7070", "--token-file", "t")).toMatchObject({
      code: 0,
    });
    expect((await cna("context", "set", "ci", "--coordinator", "ci:7070", "--use")).code).toBe(0);
    expect((statSync(file).mode & 0o777).toString(8)).toBe("600");
    expect((await cna("context", "list")).out).toBe("  lab\t10.0.0.5:7070\n* ci\tci:7070\n");
    expect((await cna("context", "use", "lab")).code).toBe(0);
    const listed = JSON.parse((await cna("context", "list", "--json")).out) as {
      contexts: Array<{ name: string; current: boolean }>;
    };
    expect(listed.contexts.map((c) => [c.name, c.current])).toEqual([
      ["lab", true],
      ["ci", false],
    ]);
    expect(readFileSync(file, "utf8")).toContain(`token-file: ${join(process.cwd(), "t")}`);
    const unknown = await cna("context", "use", "nope");
    expect([unknown.code, unknown.err]).toEqual([1, expect.stringMatching(/^cna: UNKNOWN_CONTEXT: no context "nope"/)]);
    const bad = await cna("context", "set", "x", "--coordinator", "nohost");
    expect(bad.code).toBe(2);
  });
});
