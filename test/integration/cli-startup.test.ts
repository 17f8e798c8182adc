/**
 * Start-up failures of the real `cna` commands: each ends within seconds with a non-zero exit and
 * one line `cna: CODE: message` naming the flag or file at fault — never "unexpected error", never
 * a process that hangs on. A data directory that cannot be written (under a regular file: root
 * cannot write there either), a `cna run --out` that cannot be made, a token file that is missing, a NATS server that wants credentials
 * it was not given or refuses the ones it was, TLS files that do not belong together, and a
 * client that does not trust the server's certificate.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startSweepServer } from "../../coordinator/grpc/index.ts";
import { CLI, runCli } from "../helpers/cli.ts";
import type { CliRun } from "../helpers/cli.ts";
import { FakeSweepBackend } from "../helpers/grpc-backend.ts";
import { opensslPrerequisite, selfSignedCert } from "../helpers/grpc.ts";
import { natsPrerequisite, startNats } from "../helpers/nats.ts";

const dir = mkdtempSync(join(tmpdir(), "cna-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nats = natsPrerequisite();
const openssl = opensslPrerequisite;
// nothing listens on port 1: a command that got as far as connecting would fail differently
const NO_NATS = "nats://127.0.0.1:1";
const env = (): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = { ...process.env, NODE_NO_WARNINGS: "1" };
  delete e.CNA_TOKEN;
  delete e.CNA_NATS_PASS;
  return e;
};

/** Runs `cna ARGS` and checks the common shape of a start-up refusal: exit 1 within `withinMs`, one named error. */
async function refused(args: string[], withinMs = 10_000): Promise<CliRun> {
  const t0 = Date.now();
  const r = await runCli(dir, args, env());
  expect(r.code, r.stderr).toBe(1);
  expect(Date.now() - t0, r.stderr).toBeLessThan(withinMs);
  expect(r.stderr).toMatch(/^cna: [A-Z_]+: /m);
  expect(r.stderr).not.toMatch(/unexpected error|coordinator started|pulling shards/);
  return r;
}

describe("a data directory that cannot be written", () => {
  it("stops the coordinator with DATA_DIR_UNWRITABLE naming the directory, before it connects to NATS", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "not a directory\n");
    const data = join(file, "data");
    const r = await refused(["coordinator", "--data", data, "--nats", NO_NATS, "--listen", "127.0.0.1:0"]);
    expect(r.stderr).toContain(
      `cna: DATA_DIR_UNWRITABLE: cannot use the data directory ${data}: cannot create it: ENOTDIR`,
    );
    expect(r.stderr).not.toMatch(/NATS not reachable/);
  });
});

describe("an output directory that cannot be made (cna run)", () => {
  it("refuses --out under a regular file with OUTPUT_WRITE_FAILED naming --out, and OUT/state in the way with DATA_DIR_UNWRITABLE", async () => {
    const file = join(dir, "a-file-too");
    writeFileSync(file, "not a directory\n");
    const sweep = join(import.meta.dirname, "..", "..", "examples", "zoo-quick.yaml");
    const under = await refused(["run", sweep, "--out", join(file, "out")], 60_000);
    expect(under.stderr).toContain(
      `cna: OUTPUT_WRITE_FAILED: --out ${join(file, "out")}: cannot create the directory: ENOTDIR`,
    );
    const out = join(dir, "out-with-state-file");
    mkdirSync(out);
    writeFileSync(join(out, "state"), "in the way\n");
    const state = await refused(["run", sweep, "--out", out], 60_000);
    expect(state.stderr).toContain(`cna: DATA_DIR_UNWRITABLE: cannot use the data directory ${join(out, "state")}`);
  });
});

describe("a token file that does not exist", () => {
  it.each([
    ["coordinator", ["coordinator", "--data", join(dir, "d"), "--nats", NO_NATS]],
    ["worker", ["worker", "--coordinator", "127.0.0.1:7070", "--nats", NO_NATS]],
    ["a client", ["watch", "some-sweep"]],
  ])("%s: refused as a usage error naming --token-file and the file", async (_who, args) => {
    const missing = join(dir, "no-such-token");
    const r = await runCli(dir, [...args, "--token-file", missing], env());
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`cna: --token-file ${missing}: ENOENT`);
    expect(r.stderr).not.toMatch(/unexpected error|listening|pulling shards/);
  });
});

describe.skipIf(nats.skip)("a NATS server that requires a user and password", () => {
  const PASSWORD = "s3cret-nats-pass";
  const nopass = (args: string[]) => args;

  it("refuses a coordinator and a worker that give none, or the wrong one, with NATS_AUTH_FAILED; takes user:pass in the URL", async () => {
    nats.assert();
    await using broker = await startNats({ args: ["--user", "cna", "--pass", PASSWORD] });
    // a worker asks its coordinator for the namespace before it connects to NATS
    await using coordinator = await startSweepServer({
      backend: new FakeSweepBackend(),
      host: "127.0.0.1",
      port: 0,
      namespace: "auth",
    });
    const none = await refused(
      nopass(["coordinator", "--data", join(dir, "auth-data"), "--nats", broker.url, "--listen", "127.0.0.1:0"]),
    );
    expect(none.stderr).toMatch(
      /^cna: NATS_AUTH_FAILED: cannot connect to NATS at nats:\/\/\S+: Authorization Violation; .*none were given: pass --nats-user with --nats-pass-file/m,
    );
    // no retries: credentials do not get better by waiting
    expect(none.stderr).not.toMatch(/NATS not reachable/);

    const passFile = join(dir, "wrong-pass");
    writeFileSync(passFile, "not-the-password\n");
    const wrong = await refused([
      "worker",
      "--coordinator",
      coordinator.address,
      "--nats",
      broker.url,
      "--id",
      "w",
      "--nats-user",
      "cna",
      "--nats-pass-file",
      passFile,
    ]);
    expect(wrong.stderr).toMatch(/^cna: NATS_AUTH_FAILED: .*the server refused the user and password \(--nats-user/m);
    expect(wrong.stderr).not.toContain("not-the-password");

    const inUrl = `nats://cna:wrong-in-url@${broker.url.slice("nats://".length)}`;
    const badUrl = await refused(["worker", "--coordinator", coordinator.address, "--nats", inUrl, "--id", "w"]);
    expect(badUrl.stderr).toMatch(/NATS_AUTH_FAILED: cannot connect to NATS at nats:\/\/[^@\s]+: /);
    expect(badUrl.stderr).not.toContain("wrong-in-url"); // the URL is printed without its password

    const good = `nats://cna:${PASSWORD}@${broker.url.slice("nats://".length)}`;
    const worker = spawn(
      process.execPath,
      [CLI, "worker", "--coordinator", coordinator.address, "--nats", good, "--id", "ok"],
      {
        cwd: dir,
        env: env(),
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    worker.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => worker.once("exit", resolve));
    try {
      const until = Date.now() + 30_000;
      while (!/pulling shards|^cna: /m.test(stderr) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(stderr).toMatch(/ INFO pulling shards worker=ok /);
      worker.kill("SIGTERM");
      expect(await exited, stderr).toBe(0);
      expect(stderr).not.toContain(PASSWORD);
    } finally {
      worker.kill("SIGKILL");
    }
  });
});

describe.skipIf(openssl.skip)("TLS files that do not fit", () => {
  it("a coordinator refuses a key that is not its certificate's with TLS_INVALID naming both files", async () => {
    openssl.assert();
    using a = selfSignedCert();
    using b = selfSignedCert();
    const r = await refused([
      "coordinator",
      "--data",
      join(dir, "tls-data"),
      "--nats",
      NO_NATS,
      "--listen",
      "127.0.0.1:0",
      "--tls-cert",
      a.certPath,
      "--tls-key",
      b.keyPath,
    ]);
    expect(r.stderr).toContain(
      `cna: TLS_INVALID: the private key ${b.keyPath} (--tls-key) does not belong to the certificate ${a.certPath} (--tls-cert)`,
    );
    const swapped = await refused([
      "coordinator",
      "--data",
      join(dir, "tls-data"),
      "--nats",
      NO_NATS,
      "--tls-cert",
      a.keyPath,
      "--tls-key",
      a.certPath,
    ]);
    expect(swapped.stderr).toContain(`cna: TLS_INVALID: ${a.keyPath} (--tls-cert) does not hold a PEM certificate`);
  });

  it("a client that does not trust the server, or does not speak TLS to it, is told which flag to fix", async () => {
    openssl.assert();
    using cert = selfSignedCert();
    using other = selfSignedCert();
    await using tlsServer = await startSweepServer({ backend: new FakeSweepBackend(), tls: cert });
    await using plainServer = await startSweepServer({ backend: new FakeSweepBackend() });
    const watch = (address: string, extra: string[]) => refused(["watch", "sw-1", "--coordinator", address, ...extra]);

    const untrusted = await watch(tlsServer.address, ["--tls-ca", other.certPath]);
    expect(untrusted.stderr).toMatch(
      /^cna: TLS_HANDSHAKE_FAILED: TLS with the coordinator at \S+ failed: the server's certificate is not signed by a CA this client trusts \(.+\): give the CA that signed it with --tls-ca$/m,
    );
    const plaintext = await watch(tlsServer.address, []);
    expect(plaintext.stderr).toMatch(
      /^cna: UNREACHABLE: cannot reach the coordinator at \S+ \(.*if it serves TLS, give --tls-ca\): the server closed the connection/m,
    );
    const tlsToPlain = await watch(plainServer.address, ["--tls-ca", cert.certPath]);
    expect(tlsToPlain.stderr).toMatch(
      /^cna: TLS_HANDSHAKE_FAILED: TLS with the coordinator at \S+ failed: the server does not speak TLS on this port/m,
    );
    // and with the right CA the same call reaches the server (which has no such sweep)
    const trusted = await runCli(
      dir,
      ["watch", "sw-1", "--coordinator", tlsServer.address, "--tls-ca", cert.certPath],
      env(),
    );
    expect(trusted.stderr).toMatch(/^cna: SWEEP_NOT_FOUND: /m);
  });
});
