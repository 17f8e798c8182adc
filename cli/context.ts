/**
 * `cna context list | use NAME | set NAME [--coordinator HOST:PORT] [--token-file FILE] ...`:
 * the named contexts of the client config file (cli/config.ts), in the manner of kubectl's
 * `config get-contexts / use-context / set-context`.
 */
import { resolve } from "node:path";
import { HELP_FLAG, parseFlags, stringFlag } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { CONTEXT_FIELDS, configPath, readConfig, writeContext } from "./config.ts";
import type { Context } from "./config.ts";
import { hostPort } from "./connect.ts";
import { UnknownContextError, UsageError } from "./errors.ts";

const SET_FLAGS: readonly FlagSpec[] = [
  { name: "coordinator", value: "HOST:PORT", help: "the coordinator's gRPC address" },
  { name: "token-file", value: "FILE", help: "file holding the gRPC bearer token" },
  { name: "tls-ca", value: "FILE", help: "PEM CA bundle to verify the coordinator with" },
  { name: "tls-cert", value: "FILE", help: "PEM client certificate, for mutual TLS" },
  { name: "tls-key", value: "FILE", help: "PEM private key of --tls-cert" },
  { name: "use", help: "also make it the current context" },
  HELP_FLAG,
];
const LIST_FLAGS: readonly FlagSpec[] = [{ name: "json", help: "print JSON" }, HELP_FLAG];

export const contextCommand: Command = {
  name: "context",
  summary: "list, pick or set the named coordinators of the client config file",
  synopsis:
    "context list [--json] | context use NAME | context set NAME [--coordinator HOST:PORT] [--token-file FILE] [--tls-ca FILE] [--use]",
  flags: SET_FLAGS,
  notes: [
    "The file is $CNA_CONFIG, else $XDG_CONFIG_HOME/cna/config.yaml, else ~/.config/cna/config.yaml:",
    "  current-context: lab",
    "  contexts:",
    "    lab: { coordinator: cna.lab.internal:7070, token-file: /etc/cna/token, tls-ca: ca.pem }",
    "Remote commands (submit, watch, rankings, report, list, cancel, rerun, drain) take each setting from",
    "the flag, else the environment ($CNA_COORDINATOR, $CNA_TOKEN_FILE, $CNA_TOKEN), else the context",
    "(--context NAME, else $CNA_CONTEXT, else current-context), else the default.",
    "Examples:",
    "  cna context set lab --coordinator 10.0.0.5:7070 --token-file ~/lab.token --use",
    "  cna context list",
    "  cna list --context lab",
  ].join("\n"),
  run: async (argv, io) => {
    const [sub, ...rest] = argv;
    const file = configPath();
    if (sub === "list") {
      const v = parseFlags(LIST_FLAGS, rest);
      const config = readConfig(file);
      const rows = [...config.contexts].map(([name, c]) => ({ name, current: name === config.currentContext, ...c }));
      if (v.json === true) io.stdout.write(`${JSON.stringify({ file, contexts: rows }, null, 2)}\n`);
      else if (rows.length === 0)
        io.stderr.write(`no contexts in ${file} (add one with cna context set NAME --coordinator HOST:PORT)\n`);
      else
        for (const r of rows)
          io.stdout.write(`${r.current ? "*" : " "} ${r.name}\t${r.coordinator ?? "(default coordinator)"}\n`);
      return 0;
    }
    if (sub === "use") {
      const v = parseFlags([HELP_FLAG], rest, { positionals: ["NAME"] });
      const name = String(v.NAME);
      const config = readConfig(file);
      if (!config.contexts.has(name))
        throw new UnknownContextError(file, name, "cna context use", [...config.contexts.keys()]);
      writeContext(file, name, {}, true);
      io.stderr.write(`current context: ${name} (${file})\n`);
      return 0;
    }
    if (sub === "set") {
      const v = parseFlags(SET_FLAGS, rest, { positionals: ["NAME"] });
      const name = String(v.NAME);
      if (!/^[\w.-]+$/.test(name))
        throw new UsageError(
          "NAME",
          `a context's name is letters, digits, ".", "_" and "-" (got ${JSON.stringify(name)})`,
        );
      const fields: Context = {};
      for (const field of CONTEXT_FIELDS) {
        const value = stringFlag(v, field);
        if (value === undefined) continue;
        if (field === "coordinator") hostPort("--coordinator", value);
        // files are kept absolute: the config file is read from anywhere
        fields[field] = field === "coordinator" ? value : resolve(value);
      }
      readConfig(file); // refuse to rewrite a file that is malformed now
      writeContext(file, name, fields, v.use === true);
      io.stderr.write(`context ${name} set in ${file}${v.use === true ? " (now the current context)" : ""}\n`);
      return 0;
    }
    throw new UsageError(
      "",
      sub === undefined
        ? "missing what to do: list, use NAME or set NAME"
        : `unknown "cna context ${sub}" (list, use NAME, set NAME)`,
    );
  },
};
