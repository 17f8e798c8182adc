/**
 * Offline checks of the rendered manifests, with no cluster: every overlay renders with
 * `kubectl kustomize`, every built-in object validates against the Kubernetes schemas
 * (kubernetes-models) and has no field those types lack (a `satisfies` check run through the
 * TypeScript compiler), and every custom resource validates against the strict JSON schema in
 * deploy/schemas/. test/unit/deploy*.test.ts run these in CI; by hand:
 *
 *   node --import tsx deploy/check.ts        # prints each problem, exits 1 if there is one
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv/dist/2020.js";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";

export const DEPLOY_DIR = import.meta.dirname;
export const OVERLAYS = ["dev", "gpu"] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** A rendered object: what every Kubernetes object has, the rest left to the validators. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** `kubectl kustomize` failed or printed something that is not a list of objects. */
export class KustomizeError extends Error {
  override readonly name = "KustomizeError";
  readonly code = "DEPLOY_KUSTOMIZE";
  constructor(
    readonly dir: string,
    message: string,
  ) {
    super(`kubectl kustomize ${dir}: ${message}`);
  }
}

/** The oldest kustomize that understands these kustomizations (labels, components, replicas). */
const MIN_KUSTOMIZE_MAJOR = 5;

/** null when `kubectl kustomize` can render deploy/, otherwise what is missing and how to get it. */
export function kustomizeMissing(): string | null {
  const r = spawnSync("kubectl", ["version", "--client", "--output=json"], { encoding: "utf8", timeout: 30_000 });
  if (r.error || r.status !== 0)
    return "kubectl not found (it ships with the CI machine image; elsewhere install kubectl ≥ 1.27, which embeds kustomize v5)";
  const version = (JSON.parse(r.stdout) as { kustomizeVersion?: string }).kustomizeVersion ?? "";
  const major = Number(/^v(\d+)\./.exec(version)?.[1] ?? 0);
  return major >= MIN_KUSTOMIZE_MAJOR
    ? null
    : `kubectl embeds kustomize ${version || "(unknown)"}; deploy/ needs v${MIN_KUSTOMIZE_MAJOR} or later (kubectl ≥ 1.27)`;
}

/** Parses `kubectl kustomize` output (or any multi-document YAML) into objects. */
export function parseObjects(text: string, source: string): K8sObject[] {
  return parseAllDocuments(text).flatMap((doc, i): K8sObject[] => {
    if (doc.errors.length > 0) throw new KustomizeError(source, `document ${i}: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return [];
    const o = value as Partial<K8sObject>;
    if (typeof o.apiVersion !== "string" || typeof o.kind !== "string" || typeof o.metadata?.name !== "string")
      throw new KustomizeError(source, `document ${i} is not a Kubernetes object (apiVersion, kind, metadata.name)`);
    return [o as K8sObject];
  });
}

/** Renders `dir` (a kustomization directory, relative to deploy/ or absolute). */
export function renderKustomization(dir: string): K8sObject[] {
  const path = join(DEPLOY_DIR, dir);
  const r = spawnSync("kubectl", ["kustomize", path], { encoding: "utf8", timeout: 60_000, maxBuffer: 64 * 2 ** 20 });
  if (r.error) throw new KustomizeError(dir, r.error.message);
  if (r.status !== 0) throw new KustomizeError(dir, r.stderr.trim() || `exit ${r.status}`);
  return parseObjects(r.stdout, dir);
}

export function renderOverlay(overlay: Overlay): K8sObject[] {
  return renderKustomization(join("overlays", overlay));
}

/** "Deployment cna/cna-worker" */
export function objectId(o: K8sObject): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;
}

interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (data: never): { validate(): void };
}

/** The built-in kinds deploy/ uses, by `apiVersion/kind`. A new kind must be added here. */
const BUILT_IN: ReadonlyMap<string, ModelClass> = new Map(
  [
    ConfigMap,
    Namespace,
    PersistentVolumeClaim,
    Secret,
    Service,
    ServiceAccount,
    Deployment,
    StatefulSet,
    NetworkPolicy,
    PodDisruptionBudget,
  ].map((c) => [`${c.apiVersion}/${c.kind}`, c as unknown as ModelClass] as const),
);

/** Custom resources, by `apiVersion/kind`: the JSON schema in deploy/schemas/ that checks them. */
export const CRD_SCHEMAS: Readonly<Record<string, string>> = {
  "keda.sh/v1alpha1/ScaledObject": "scaledobject.schema.json",
  "monitoring.coreos.com/v1/ServiceMonitor": "servicemonitor.schema.json",
  "monitoring.coreos.com/v1/PrometheusRule": "prometheusrule.schema.json",
};

const typeKey = (o: K8sObject): string => `${o.apiVersion}/${o.kind}`;

/** Objects whose kind neither kubernetes-models (as registered here) nor deploy/schemas/ covers. */
export function unknownKindErrors(objects: readonly K8sObject[]): string[] {
  return objects
    .filter((o) => !BUILT_IN.has(typeKey(o)) && !(typeKey(o) in CRD_SCHEMAS))
    .map((o) => `${objectId(o)}: no schema for ${typeKey(o)} (register it in deploy/check.ts)`);
}

/** kubernetes-models' validate() on every built-in object: types, required fields, formats. */
export function kubernetesModelErrors(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  for (const o of objects) {
    const Model = BUILT_IN.get(typeKey(o));
    if (!Model) continue;
    try {
      new Model(o as never).validate();
    } catch (err) {
      errors.push(`${objectId(o)}: ${(err as Error).message}`);
    }
  }
  return errors;
}

const validators = new Map<string, ValidateFunction>();
function crdValidator(file: string): ValidateFunction {
  let v = validators.get(file);
  if (!v) {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    v = ajv.compile(JSON.parse(readFileSync(join(DEPLOY_DIR, "schemas", file), "utf8")) as object);
    validators.set(file, v);
  }
  return v;
}

/** Every custom resource against its strict schema in deploy/schemas/. */
export function crdSchemaErrors(objects: readonly K8sObject[]): string[] {
  const errors: string[] = [];
  for (const o of objects) {
    const file = CRD_SCHEMAS[typeKey(o)];
    if (file === undefined) continue;
    const validate = crdValidator(file);
    if (!validate(o))
      for (const e of validate.errors ?? [])
        errors.push(`${objectId(o)}: ${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`);
  }
  return errors;
}

/**
 * Fields the Kubernetes types do not have (a misspelt `readinesProbe` validates and is then
 * silently dropped by the API server). Each built-in object becomes `{...} satisfies IKind` in a
 * virtual TypeScript file, compiled against kubernetes-models' declarations: excess-property
 * checks name every unknown field, and the types catch what the JSON schemas let through.
 */
export function unknownFieldErrors(objects: readonly K8sObject[]): string[] {
  const checked = objects.filter((o) => BUILT_IN.has(typeKey(o)));
  if (checked.length === 0) return [];
  const file = join(DEPLOY_DIR, "__rendered_objects__.ts"); // never written: served from memory
  const imports = [...new Set(checked.map(typeKey))].map((k) => {
    const kind = k.slice(k.lastIndexOf("/") + 1);
    return `import type { I${kind} } from "kubernetes-models/${k}";`;
  });
  const chunks = [...imports];
  const starts: number[] = []; // the line each object's declaration starts on
  let line = imports.length;
  for (const o of checked) {
    const chunk = `export const o${starts.length} = ${JSON.stringify(o, null, 2)} satisfies I${o.kind};`;
    starts.push(line);
    chunks.push(chunk);
    line += chunk.split("\n").length;
  }
  const source = chunks.join("\n");
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    lib: ["lib.es2022.d.ts"],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram({ rootNames: [file], options, host });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (d.file?.fileName !== file || d.start === undefined) return `TypeScript: ${message}`;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    let index = starts.length - 1;
    while (index > 0 && starts[index]! > line) index -= 1;
    const text = source.split("\n")[line]?.trim() ?? "";
    return `${objectId(checked[index]!)}: ${message} (at ${text})`;
  });
}

/** Every schema problem of one overlay's objects. */
export function schemaErrors(objects: readonly K8sObject[]): string[] {
  return [
    ...unknownKindErrors(objects),
    ...kubernetesModelErrors(objects),
    ...crdSchemaErrors(objects),
    ...unknownFieldErrors(objects),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const missing = kustomizeMissing();
  if (missing) {
    process.stderr.write(`${missing}\n`);
    process.exit(1);
  }
  let problems = 0;
  for (const overlay of OVERLAYS) {
    const objects = renderOverlay(overlay);
    const errors = schemaErrors(objects);
    problems += errors.length;
    process.stdout.write(
      `${overlay}: ${objects.length} objects, ${errors.length} problems\n${errors.map((e) => `  ${e}\n`).join("")}`,
    );
  }
  process.exitCode = problems > 0 ? 1 : 0;
}
