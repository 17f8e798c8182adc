/**
 * The real `cna coordinator` and `cna worker` refuse what would silently open them: an empty,
 * whitespace-only or short token (file or $CNA_TOKEN), an empty NATS password, and a non-loopback
 * listen address with neither a token nor TLS unless --insecure is given (then it warns).
 * Refusals come before anything connects, so these runs need no NATS server; the --insecure run
 * starts one to show the coordinator really serves.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, runCli } from "../helpers/cli.ts";
import { natsPrerequisite, startNats } from "../helpers/nats.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-security-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
// nothing listens on port 1: a command that got as far as connecting would fail differently
const NO_NATS = "nats://127.0.0.1:1";
const envWithout = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env = { ...process.env, ...extra };
  if (!("CNA_TOKEN" in extra)) delete env.CNA_TOKEN;
  if (!("CNA_NATS_PASS" in extra)) delete env.CNA_NATS_PASS;
  return env;
};
const coordinator = (args: string[]) => ["coordinator", "--data", join(dir, "data"), "--nats", NO_NATS, ...args];
const worker = (args: string[]) => ["worker", "--coordinator", "127.0.0.1:7070", "--nats", NO_NATS, ...args];

describe("secrets given explicitly are never read as 'no authentication'", () => {
  const cases: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
    [
      "coordinator, empty token file",
      coordinator(["--token-file", file("empty", "")]),
      envWithout(),
      /SECRET_REJECTED: --token-file \S+empty is empty/,
    ],
    [
      "coordinator, token file holding a newline",
      coordinator(["--token-file", file("newline", "\n")]),
      envWithout(),
      /SECRET_REJECTED: --token-file \S+newline is empty/,
    ],
    [
      "coordinator, 15-byte token",
      coordinator(["--token-file", file("short", "0123456789abcde\n")]),
      envWithout(),
      /SECRET_REJECTED: the token from --token-file \S+short is 15 bytes; at least 16/,
    ],
    [
      "coordinator, whitespace-only $CNA_TOKEN",
      coordinator([]),
      envWithout({ CNA_TOKEN: "  \n" }),
      /SECRET_REJECTED: \$CNA_TOKEN is empty or whitespace only/,
    ],
    [
      "coordinator, empty --nats-pass-file",
      coordinator(["--nats-user", "cna", "--nats-pass-file", file("pass", " \n")]),
      envWithout(),
      /SECRET_REJECTED: --nats-pass-file \S+pass is empty/,
    ],
    [
      "worker, empty token file",
      worker(["--listen", "127.0.0.1:0", "--token-file", join(dir, "empty")]),
      envWithout(),
      /SECRET_REJECTED: --token-file \S+empty is empty/,
    ],
    [
      "worker, short $CNA_TOKEN",
      worker([]),
      envWithout({ CNA_TOKEN: "tiny" }),
      /SECRET_REJECTED: the token from \$CNA_TOKEN is 4 bytes/,
    ],
    [
      "worker, whitespace-only $CNA_NATS_PASS",
      worker(["--nats-user", "cna"]),
      envWithout({ CNA_NATS_PASS: " " }),
      /SECRET_REJECTED: \$CNA_NATS_PASS is empty/,
    ],
  ];
  it.each(cases)("%s: refused with a named error and a non-zero exit", async (_name, args, env, message) => {
    const r = await runCli(dir, args, env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/coordinator started|worker started|unexpected error/);
  });

  it("never echoes the rejected secret", async () => {
    const r = await runCli(dir, coordinator(["--token-file", file("short2", "hunter2\n")]), envWithout());
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain("hunter2");
  });
});

describe("a server beyond loopback needs a token, TLS or --insecure", () => {
  it("coordinator on 0.0.0.0 with no token and no TLS is refused", async () => {
    const r = await runCli(dir, coordinator(["--listen", "0.0.0.0:0"]), envWithout());
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /INSECURE_LISTEN: cna coordinator: refusing to listen on 0\.0\.0\.0 with neither a token .* or pass --insecure/,
    );
  });

  it("worker serving WorkerService on 0.0.0.0 with no token and no TLS is refused", async () => {
    const r = await runCli(dir, worker(["--listen", "0.0.0.0:0"]), envWithout());
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/INSECURE_LISTEN: cna worker \S+: refusing to listen on 0\.0\.0\.0/);
  });

  const nats = natsPrerequisite();
  it.skipIf(nats.skip)("--insecure starts the coordinator with a warning; a token starts it without one", async () => {
    nats.assert();
    await using broker = await startNats();
    const start = (args: string[], env: NodeJS.ProcessEnv) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [
            CLI,
            "coordinator",
            "--data",
            join(dir, `data-${args.length}`),
            "--nats",
            broker.url,
            "--listen",
            "0.0.0.0:0",
            ...args,
          ],
          { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] },
        );
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => {
          stderr += d.toString();
          if (/coordinator started listen=\S+:\d+ /.test(stderr)) child.kill("SIGTERM");
        });
        child.on("error", reject);
        child.on("close", () => resolve(stderr));
      });
    const insecure = await start(["--insecure"], envWithout());
    expect(insecure).toMatch(/WARNING: listening on 0\.0\.0\.0 without a token or TLS \(--insecure\)/);
    expect(insecure).toMatch(/coordinator started listen=0\.0\.0\.0:\d+ auth="no authentication"/);
    const withToken = await start([], envWithout({ CNA_TOKEN: "a-token-of-enough-bytes" }));
    expect(withToken).toMatch(/coordinator started listen=0\.0\.0\.0:\d+ auth="token required"/);
    expect(withToken).not.toMatch(/WARNING/);
  });
});
