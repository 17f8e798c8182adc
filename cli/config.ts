/**
 * The client configuration file: named contexts, each saying how to reach one coordinator, in the
 * manner of kubectl's kubeconfig. Read only by the commands that talk to a coordinator or a worker.
 *
 *   $CNA_CONFIG, else $XDG_CONFIG_HOME/cna/config.yaml, else ~/.config/cna/config.yaml
 *
 *   current-context: lab
 *   contexts:
 *     lab:
 *       coordinator: cna.lab.internal:7070
 *       token-file: /etc/cna/token        # relative paths are relative to this file
 *       tls-ca: ca.pem
 *
 * A missing file is no configuration; a file that is there but malformed, or a context that it
 * does not have, is an error naming the file and the field.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { Document, isMap, parseDocument } from "yaml";
import { CliConfigError, UnknownContextError } from "./errors.ts";

/** What a context may set; each is also a flag of the remote commands, under the same name. */
export const CONTEXT_FIELDS = ["coordinator", "token-file", "tls-ca", "tls-cert", "tls-key"] as const;
export type ContextField = (typeof CONTEXT_FIELDS)[number];
/** The fields that name files: read relative to the config file's directory. */
const FILE_FIELDS: ReadonlySet<ContextField> = new Set(["token-file", "tls-ca", "tls-cert", "tls-key"]);

export type Context = Partial<Record<ContextField, string>>;

export interface CliConfig {
  /** the file it was read from (or would be written to) */
  file: string;
  /** false when there is no such file */
  exists: boolean;
  currentContext?: string;
  contexts: Map<string, Context>;
}

/** Where the config file is: $CNA_CONFIG, else under $XDG_CONFIG_HOME, else under ~/.config. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CNA_CONFIG !== undefined && env.CNA_CONFIG !== "") return resolve(env.CNA_CONFIG);
  const base =
    env.XDG_CONFIG_HOME !== undefined && isAbsolute(env.XDG_CONFIG_HOME)
      ? env.XDG_CONFIG_HOME
      : join(env.HOME ?? homedir(), ".config");
  return join(base, "cna", "config.yaml");
}

/** Reads and checks the config file; file paths in it come back absolute. */
export function readConfig(file: string): CliConfig {
  if (!existsSync(file)) return { file, exists: false, contexts: new Map() };
  let doc: Document;
  try {
    doc = parseDocument(readFileSync(file, "utf8"));
  } catch (err) {
    throw new CliConfigError(file, "", `${file}: cannot read it: ${(err as Error).message}`, err);
  }
  if (doc.errors.length > 0)
    throw new CliConfigError(file, "", `${file}: not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`);
  const root: unknown = doc.toJS();
  if (root === null || root === undefined) return { file, exists: true, contexts: new Map() };
  if (!isObject(root))
    throw new CliConfigError(file, "", `${file}: must be a mapping with current-context and contexts`);
  for (const key of Object.keys(root))
    if (key !== "current-context" && key !== "contexts")
      throw new CliConfigError(file, key, `${file}: unknown field ${key} (fields: current-context, contexts)`);
  const current = root["current-context"];
  if (current !== undefined && current !== null && typeof current !== "string")
    throw new CliConfigError(file, "current-context", `${file}: current-context must be a context's name`);
  const contexts = new Map<string, Context>();
  const raw = root.contexts ?? {};
  if (!isObject(raw)) throw new CliConfigError(file, "contexts", `${file}: contexts must map names to contexts`);
  for (const [name, value] of Object.entries(raw)) contexts.set(name, readContext(file, name, value));
  return { file, exists: true, ...(typeof current === "string" ? { currentContext: current } : {}), contexts };
}

function readContext(file: string, name: string, value: unknown): Context {
  const at = `contexts.${name}`;
  if (value === null || value === undefined) return {};
  if (!isObject(value))
    throw new CliConfigError(file, at, `${file}: ${at} must be a mapping (${CONTEXT_FIELDS.join(", ")})`);
  const context: Context = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(CONTEXT_FIELDS as readonly string[]).includes(key))
      throw new CliConfigError(
        file,
        `${at}.${key}`,
        `${file}: unknown field ${at}.${key} (fields: ${CONTEXT_FIELDS.join(", ")})`,
      );
    if (typeof v !== "string" || v.trim() === "")
      throw new CliConfigError(file, `${at}.${key}`, `${file}: ${at}.${key} must be a non-empty string`);
    const field = key as ContextField;
    context[field] = FILE_FIELDS.has(field) ? resolve(dirname(file), v) : v;
  }
  return context;
}

/**
 * The context to use: `--context NAME`, else $CNA_CONTEXT, else the file's current-context;
 * undefined when none is named. A named context the file lacks is UNKNOWN_CONTEXT.
 */
export function selectContext(
  config: CliConfig,
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { name: string; context: Context } | undefined {
  const fromEnv = env.CNA_CONTEXT === "" ? undefined : env.CNA_CONTEXT;
  const [name, source] =
    flag !== undefined
      ? [flag, "--context"]
      : fromEnv !== undefined
        ? [fromEnv, "$CNA_CONTEXT"]
        : [config.currentContext, "current-context"];
  if (name === undefined) return undefined;
  const context = config.contexts.get(name);
  if (!context) throw new UnknownContextError(config.file, name, source, [...config.contexts.keys()]);
  return { name, context };
}

/**
 * Sets fields of a context (creating it and the file if needed) and, with `use`, makes it the
 * current one; comments and the other contexts are kept. The file is written owner-only: it
 * names where the token is.
 */
export function writeContext(file: string, name: string, fields: Context, use: boolean): void {
  const doc = existsSync(file) ? parseDocument(readFileSync(file, "utf8")) : new Document({});
  if (doc.errors.length > 0 || (doc.contents !== null && !isMap(doc.contents)))
    throw new CliConfigError(file, "", `${file}: not a valid config file; fix or remove it first`);
  if (doc.contents === null) doc.contents = doc.createNode({});
  if (!doc.hasIn(["contexts", name])) doc.setIn(["contexts", name], doc.createNode({}));
  for (const [key, value] of Object.entries(fields)) doc.setIn(["contexts", name, key], value);
  if (use) doc.set("current-context", name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, doc.toString(), { mode: 0o600 });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
