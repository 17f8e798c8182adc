/**
 * `cna completion bash|zsh|fish`: the scripts complete what the command table declares. bash and
 * fish are asked for completions the way the shell would ask (bash: COMP_WORDS + the function;
 * fish: `complete -C`); zsh, whose completion runs only inside its line editor, is checked for
 * syntax, for registering `_cna` with compinit, and for naming every command and flag.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS, main } from "../../cli/index.ts";
import type { CliIo } from "../../cli/index.ts";
import { prerequisite } from "../helpers/prereq.ts";

const shellPrerequisite = (shell: string) =>
  prerequisite(shell, () =>
    spawnSync(shell, ["-c", "exit 0"]).status === 0 ? null : `${shell} not found (apt-get install ${shell})`,
  );
const zshShell = shellPrerequisite("zsh");
const fishShell = shellPrerequisite("fish");

async function cna(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

function run(shell: string, script: string): string {
  const r = spawnSync(shell, ["-c", script], { encoding: "utf8", env: { PATH: process.env.PATH, HOME: dir } });
  if (r.status !== 0) throw new Error(`${shell} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

let dir: string;
const scripts: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cna-completion-"));
  for (const shell of ["bash", "zsh", "fish"]) {
    const r = await cna(["completion", shell]);
    expect(r.code, r.stderr).toBe(0);
    scripts[shell] = join(dir, `cna.${shell}`);
    writeFileSync(scripts[shell], r.stdout);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const names = COMMANDS.map((c) => c.name);

describe("cna completion bash", () => {
  const complete = (...words: string[]) =>
    run(
      "bash",
      `source ${scripts.bash}; COMP_WORDS=(cna ${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length}; _cna; printf '%s\\n' "\${COMPREPLY[@]}"`,
    )
      .split("\n")
      .filter(Boolean);

  it("registers _cna for cna", () => {
    expect(run("bash", `source ${scripts.bash}; complete -p cna`).trim()).toBe(
      "complete -o bashdefault -o default -F _cna cna",
    );
  });

  it("completes the subcommands, completion and help among them", () => {
    expect(complete("")).toEqual([...names, "help", "--help", "--version"]);
    expect(names).toContain("completion");
    expect(complete("r")).toEqual(["run", "rankings", "report", "rerun"]);
  });

  it("completes every command's flags from its flag table", () => {
    for (const c of COMMANDS) {
      const expected = c.flags.map((f) => `--${f.name}`).sort();
      expect(complete(c.name, "--").sort(), c.name).toEqual(expected);
    }
    expect(complete("run", "--wo")).toEqual(["--workers"]);
  });

  it("leaves a flag's value and positional arguments to file-name completion", () => {
    expect(complete("run", "--out", "")).toEqual([]);
    expect(complete("run", "")).toEqual([]);
  });

  it("completes the shells after completion and the commands after help", () => {
    expect(complete("completion", "")).toEqual(["bash", "zsh", "fish"]);
    expect(complete("help", "wa")).toEqual(["watch"]);
  });
});

describe("cna completion fish", () => {
  const complete = (line: string) =>
    run("fish", `source ${scripts.fish}; complete -C '${line}'`)
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split("\t")[0]);

  it.skipIf(fishShell.skip)("completes the subcommands with their summaries", () => {
    fishShell.assert();
    expect(complete("cna ").sort()).toEqual([...names, "help"].sort());
    expect(run("fish", `source ${scripts.fish}; complete -C 'cna dem'`)).toBe(
      `demo\t${COMMANDS.find((c) => c.name === "demo")!.summary}\n`,
    );
  });

  it.skipIf(fishShell.skip)("completes every command's long flags, and the words after completion", () => {
    fishShell.assert();
    for (const c of COMMANDS)
      expect(complete(`cna ${c.name} --`).sort(), c.name).toEqual(c.flags.map((f) => `--${f.name}`).sort());
    expect(complete("cna completion ").sort()).toEqual(["bash", "fish", "zsh"]);
  });
});

describe("cna completion zsh", () => {
  it("describes every command and declares every flag", async () => {
    const text = (await cna(["completion", "zsh"])).stdout;
    expect(text.split("\n")[0]).toBe("#compdef cna");
    for (const c of COMMANDS) {
      expect(text).toContain(`'${c.name}:`);
      const branch = new RegExp(`^    ${c.name}\\) _arguments .*$`, "m").exec(text)?.[0] ?? "";
      for (const f of c.flags) expect(branch, `${c.name} --${f.name}`).toContain(`--${f.name}[`);
    }
  });

  it.skipIf(zshShell.skip)("is valid zsh that compinit registers for cna", () => {
    zshShell.assert();
    expect(run("zsh", `zsh -n ${scripts.zsh} && echo syntax-ok`).trim()).toBe("syntax-ok");
    const registered = run(
      "zsh",
      `autoload -Uz compinit && compinit -u -d ${join(dir, "zcompdump")} && source ${scripts.zsh} && print -r -- $_comps[cna]`,
    );
    expect(registered.trim()).toBe("_cna");
  });
});

describe("cna completion", () => {
  it("refuses another shell, naming the ones it knows", async () => {
    const r = await cna(["completion", "powershell"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/SHELL must be .*bash.*zsh.*fish.*powershell/);
  });
});
