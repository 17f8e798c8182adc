/**
 * Reading rendered manifests the way the cluster will: which pods a selector picks, which port a
 * name means, what flags a container is started with. test/unit/deploy.test.ts and
 * deploy-policy.test.ts assert the invariants of deploy/README.md with these.
 */
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IService } from "kubernetes-models/v1/Service";
import type { K8sObject } from "./check.ts";

type DeploymentSpec = NonNullable<IDeployment["spec"]>;
export type LabelSelector = DeploymentSpec["selector"];
export type PodSpec = NonNullable<DeploymentSpec["template"]["spec"]>;
export type Container = PodSpec["containers"][number];
export type ServicePort = NonNullable<NonNullable<IService["spec"]>["ports"]>[number];
type Labels = Readonly<Record<string, string>>;

/** The pods a Deployment or StatefulSet makes: their labels and spec. */
export interface PodTemplate {
  readonly owner: K8sObject;
  readonly selector: LabelSelector;
  readonly labels: Labels;
  readonly spec: PodSpec;
}

export function podTemplates(objects: readonly K8sObject[]): PodTemplate[] {
  return objects
    .filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")
    .map((o) => {
      const spec = o.spec as DeploymentSpec; // StatefulSetSpec has the same selector and template
      return {
        owner: o,
        selector: spec.selector,
        labels: spec.template.metadata?.labels ?? {},
        spec: spec.template.spec!,
      };
    });
}

/** The object of `kind` named `name`, or a thrown error that says which is missing. */
export function named(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found)
    throw new Error(
      `no ${kind} named ${name} in the rendered objects (have: ${
        objects
          .filter((o) => o.kind === kind)
          .map((o) => o.metadata.name)
          .join(", ") || "none"
      })`,
    );
  return found;
}

/** A Service's (or NetworkPolicy peer's) plain map, or a full label selector, against `labels`. */
export function selects(selector: LabelSelector | Labels | undefined, labels: Labels): boolean {
  if (selector === undefined) return false;
  const s: LabelSelector =
    "matchLabels" in selector || "matchExpressions" in selector
      ? selector
      : { matchLabels: selector as Record<string, string> };
  const byLabel = Object.entries(s.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpression = (s.matchExpressions ?? []).every((e) => {
    const value = labels[e.key];
    switch (e.operator) {
      case "In":
        return value !== undefined && (e.values ?? []).includes(value);
      case "NotIn":
        return value === undefined || !(e.values ?? []).includes(value);
      case "Exists":
        return value !== undefined;
      case "DoesNotExist":
        return value === undefined;
      default:
        throw new Error(`unknown selector operator ${e.operator}`);
    }
  });
  return byLabel && byExpression;
}

/** The pod templates `selector` picks ({} picks all, as in a NetworkPolicy). */
export function selected(
  templates: readonly PodTemplate[],
  selector: LabelSelector | Labels | undefined,
): PodTemplate[] {
  return templates.filter((t) => selects(selector, t.labels));
}

/** The container port a probe, Service or NetworkPolicy means by `port` (a number or a name). */
export function containerPort(containers: readonly Container[], port: number | string): number | undefined {
  for (const c of containers) {
    for (const p of c.ports ?? []) if (p.name === port || p.containerPort === port) return p.containerPort;
  }
  return undefined;
}

/** `--flag value` pairs of a `cna` container's args (args[0] is the command). */
export function flagsOf(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 1; i < args.length; i += 1) {
    const arg = args[i]!;
    if (!arg.startsWith("--"))
      throw new Error(`args[${i}] ${JSON.stringify(arg)} is not a --flag (cna containers pass "--flag value" pairs)`);
    const [name, inline] = arg.slice(2).split("=", 2) as [string, string | undefined];
    if (inline !== undefined) flags.set(name, inline);
    else if (args[i + 1] !== undefined && !args[i + 1]!.startsWith("--")) flags.set(name, args[(i += 1)]!);
    else flags.set(name, "");
  }
  return flags;
}

/** The port of a `HOST:PORT` flag value. */
export function portOfAddress(address: string): number {
  const m = /:(\d+)$/.exec(address);
  if (!m) throw new Error(`${address} is not HOST:PORT`);
  return Number(m[1]);
}

const UNITS: Readonly<Record<string, number>> = {
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** A Kubernetes quantity ("500m", "2", "4Gi", 1) as a number of base units. */
export function quantity(value: string | number): number {
  if (typeof value === "number") return value;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(value);
  if (!m) throw new Error(`unsupported quantity ${JSON.stringify(value)}`);
  return Number(m[1]) * UNITS[m[2] ?? ""]!;
}
