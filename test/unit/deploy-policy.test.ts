/**
 * What deploy/ lets in and out, how it scales, what it tells Prometheus and Grafana, and what it
 * keeps secret, asserted on the rendered overlays (`kubectl kustomize`, no cluster):
 * - network policy: deny by default; workers → coordinator gRPC and NATS, coordinator → NATS,
 *   Prometheus → the metrics ports, KEDA → NATS monitoring (gpu), DNS out; nothing else;
 * - KEDA scales the worker Deployment on the consumer the workers really use, and a worker's
 *   grace period (its drain time) is the one deploy/README.md documents;
 * - ServiceMonitors reach the `--metrics` ports; dashboards and rules are all deployed;
 * - dev carries only placeholder secrets, gpu none (README says how to create them).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OVERLAYS, objectId } from "../../deploy/check.ts";
import type { K8sObject, Overlay } from "../../deploy/check.ts";
import { containerPort, flagsOf, named, podTemplates, portOfAddress, selected, selects } from "../../deploy/inspect.ts";
import type { LabelSelector, PodTemplate, ServicePort } from "../../deploy/inspect.ts";
import { namespaceNames } from "../../transport/index.ts";
import { kubectl, renderOverlaysBeforeAll } from "../helpers/deploy.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const README = readFileSync(join(ROOT, "deploy", "README.md"), "utf8");

interface Peer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: { protocol?: string; port?: number | string }[];
}
interface PolicySpec {
  podSelector: LabelSelector;
  policyTypes: ("Ingress" | "Egress")[];
  ingress?: Rule[];
  egress?: Rule[];
}

const appOf = (t: PodTemplate): string => t.labels["app.kubernetes.io/name"] ?? objectId(t.owner);

/** "pod:cna-worker", "ns:monitoring/prometheus", "ns:keda", "*" */
function peerName(peer: Peer, templates: readonly PodTemplate[]): string {
  const pods = peer.podSelector?.matchLabels?.["app.kubernetes.io/name"];
  if (peer.namespaceSelector) {
    const ns = peer.namespaceSelector.matchLabels?.["kubernetes.io/metadata.name"] ?? "?";
    return pods ? `ns:${ns}/${pods}` : `ns:${ns}`;
  }
  const names = selected(templates, peer.podSelector).map(appOf);
  if (names.length === 0) throw new Error(`peer ${JSON.stringify(peer)} selects no pod in the namespace`);
  return names.map((n) => `pod:${n}`).join("|");
}

/** What the policies allow into (or out of) `target`, as sorted "peer → port/protocol" lines. */
function allowed(objects: readonly K8sObject[], target: PodTemplate, direction: "Ingress" | "Egress"): string[] {
  const templates = podTemplates(objects);
  const lines: string[] = [];
  for (const p of objects.filter((o) => o.kind === "NetworkPolicy")) {
    const spec = p.spec as PolicySpec;
    if (!spec.policyTypes.includes(direction) || !selects(spec.podSelector, target.labels)) continue;
    for (const rule of (direction === "Ingress" ? spec.ingress : spec.egress) ?? []) {
      const peers = (direction === "Ingress" ? rule.from : rule.to)?.map((x) => peerName(x, templates)) ?? ["*"];
      const ports = (rule.ports ?? [{}]).map((x) => {
        const podOfPort = direction === "Ingress" ? [target] : selected(templates, rule.to?.[0]?.podSelector);
        const number =
          typeof x.port === "string"
            ? containerPort(
                podOfPort.flatMap((t) => t.spec.containers),
                x.port,
              )
            : x.port;
        return `${number ?? "all"}/${x.protocol ?? "TCP"}`;
      });
      for (const peer of peers) for (const port of ports) lines.push(`${peer} → ${port}`);
    }
  }
  return [...new Set(lines)].sort();
}

describe.skipIf(kubectl.skip)("deploy/ policy", () => {
  const objectsOf = renderOverlaysBeforeAll();
  const template = (overlay: Overlay, app: string): PodTemplate =>
    podTemplates(objectsOf(overlay)).find((t) => appOf(t) === app)!;

  describe.each(OVERLAYS)("overlay %s", (overlay) => {
    it("denies all traffic by default, in and out", () => {
      const deny = objectsOf(overlay)
        .filter((o) => o.kind === "NetworkPolicy")
        .map((o) => o.spec as PolicySpec)
        .find((s) => Object.keys(s.podSelector).length === 0 && s.ingress === undefined && s.egress === undefined);
      expect(deny?.policyTypes.sort()).toEqual(["Egress", "Ingress"]);
    });

    it("lets in only workers → coordinator and NATS, coordinator → NATS, Prometheus → metrics (and KEDA → NATS monitoring)", () => {
      const objects = objectsOf(overlay);
      expect(allowed(objects, template(overlay, "cna-coordinator"), "Ingress")).toEqual([
        "ns:monitoring/prometheus → 9464/TCP",
        "pod:cna-worker → 7070/TCP",
      ]);
      expect(allowed(objects, template(overlay, "cna-worker"), "Ingress")).toEqual([
        "ns:monitoring/prometheus → 9465/TCP",
      ]);
      expect(allowed(objects, template(overlay, "nats"), "Ingress")).toEqual([
        ...(overlay === "gpu" ? ["ns:keda → 8222/TCP"] : []),
        "pod:cna-coordinator → 4222/TCP",
        "pod:cna-worker → 4222/TCP",
      ]);
    });

    it("lets out only what each deployable dials, and DNS", () => {
      const objects = objectsOf(overlay);
      const dns = ["* → 53/TCP", "* → 53/UDP"];
      expect(allowed(objects, template(overlay, "cna-coordinator"), "Egress")).toEqual([...dns, "pod:nats → 4222/TCP"]);
      expect(allowed(objects, template(overlay, "cna-worker"), "Egress")).toEqual([
        ...dns,
        "pod:cna-coordinator → 7070/TCP",
        "pod:nats → 4222/TCP",
      ]);
      expect(allowed(objects, template(overlay, "nats"), "Egress")).toEqual(dns);
    });

    it("gives workers enough grace to drain, as deploy/README.md says", () => {
      const grace = template(overlay, "cna-worker").spec.terminationGracePeriodSeconds!;
      const ackWait = Number(flagsOf(template(overlay, "cna-coordinator").spec.containers[0]!.args!).get("ack-wait"));
      expect(grace).toBeGreaterThan(ackWait);
      if (overlay === "gpu") {
        expect(grace).toBeGreaterThanOrEqual(600);
        expect(README).toContain(`terminationGracePeriodSeconds: ${grace}`);
      }
    });

    it("deploys every Grafana dashboard in dashboards/ as a labelled ConfigMap under 1 MiB", () => {
      const wanted = readdirSync(join(ROOT, "dashboards"))
        .filter((f) => f.endsWith(".json"))
        .sort();
      const maps = objectsOf(overlay).filter(
        (o) => o.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1",
      ) as (K8sObject & { data: Record<string, string> })[];
      expect(maps.flatMap((m) => Object.keys(m.data)).sort()).toEqual(wanted);
      for (const m of maps) {
        expect(JSON.stringify(m).length, `${objectId(m)} exceeds the ConfigMap limit`).toBeLessThan(2 ** 20);
        for (const text of Object.values(m.data)) expect(() => JSON.parse(text)).not.toThrow();
      }
    });

    it("references only images with a pinned tag", () => {
      for (const t of podTemplates(objectsOf(overlay))) {
        for (const c of t.spec.containers)
          expect(c.image, `${objectId(t.owner)} ${c.name}`).toMatch(
            /^[^:@]+(:(?!latest$)[\w.-]+|@sha256:[0-9a-f]{64})$/,
          );
      }
    });
  });

  describe("secrets", () => {
    /** Secret names and keys the pods use: volumes and env. */
    const secretRefs = (objects: readonly K8sObject[]): string[] =>
      podTemplates(objects).flatMap((t) => [
        ...(t.spec.volumes ?? []).flatMap((v) => (v.secret ? [`${v.secret.secretName}`] : [])),
        ...t.spec.containers.flatMap((c) =>
          (c.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [`${e.valueFrom.secretKeyRef.name}`] : [])),
        ),
      ]);

    it("dev generates every secret its pods use, with placeholder values only", () => {
      const objects = objectsOf("dev");
      const secrets = objects.filter((o) => o.kind === "Secret") as (K8sObject & { data: Record<string, string> })[];
      for (const name of new Set(secretRefs(objects)))
        expect(
          secrets.map((s) => s.metadata.name),
          `dev: Secret ${name}`,
        ).toContain(name);
      for (const s of secrets) {
        for (const [key, value] of Object.entries(s.data))
          expect(Buffer.from(value, "base64").toString("utf8"), `${objectId(s)} ${key}`).toMatch(/placeholder/);
      }
      expect(secrets.map((s) => s.metadata.name.replace(/-[a-z0-9]{10}$/, "")).sort()).toEqual([
        "cna-grpc-token",
        "cna-nats",
      ]);
    });

    it("gpu carries no secret; deploy/README.md shows how to create each one its pods use", () => {
      const objects = objectsOf("gpu");
      expect(objects.filter((o) => o.kind === "Secret").map(objectId)).toEqual([]);
      for (const name of new Set(secretRefs(objects)))
        expect(README).toMatch(new RegExp(`kubectl -n cna create secret generic ${name} `));
    });
  });

  describe("autoscaling", () => {
    it("gpu: KEDA scales the worker Deployment on the lag of the consumer the workers pull from", () => {
      const objects = objectsOf("gpu");
      const scaled = named(objects, "ScaledObject", "cna-worker").spec as {
        scaleTargetRef: { name: string; kind?: string };
        minReplicaCount: number;
        maxReplicaCount: number;
        triggers: { type: string; metadata: Record<string, string> }[];
      };
      const worker = named(objects, "Deployment", scaled.scaleTargetRef.name);
      expect(scaled.scaleTargetRef.kind ?? "Deployment").toBe("Deployment");
      expect(
        (worker.spec as { replicas?: number }).replicas,
        "the HPA owns replicas: the manifest must not set them",
      ).toBeUndefined();
      expect(scaled.minReplicaCount).toBeLessThanOrEqual(scaled.maxReplicaCount);
      expect(scaled.triggers).toHaveLength(1);
      const { type, metadata } = scaled.triggers[0]!;
      expect(type).toBe("nats-jetstream");
      // the stream and consumer of the namespace the workers are given (the coordinator's too)
      const templates = podTemplates(objects);
      const namespaces = ["cna-coordinator", "cna-worker"].map((d) =>
        flagsOf(templates.find((t) => t.owner.metadata.name === d)!.spec.containers[0]!.args!).get("namespace"),
      );
      expect(namespaces[0]).toBeDefined();
      expect(namespaces[1]).toBe(namespaces[0]);
      expect(metadata.stream).toBe(namespaceNames(namespaces[0]!).stream);
      expect(metadata.consumer).toBe(namespaceNames(namespaces[0]!).durable);
      const [host, port] = metadata.natsServerMonitoringEndpoint!.split(":") as [string, string];
      const [service, namespace] = host.split(".") as [string, string];
      expect(namespace).toBe("cna");
      const monitor = (named(objects, "Service", service).spec as { ports: ServicePort[] }).ports.find(
        (p) => p.port === Number(port),
      );
      expect(monitor?.name).toBe("monitor");
    });

    it("dev: one worker, no autoscaler, no GPU", () => {
      const objects = objectsOf("dev");
      expect(objects.filter((o) => o.kind === "ScaledObject")).toEqual([]);
      expect((named(objects, "Deployment", "cna-worker").spec as { replicas?: number }).replicas).toBe(1);
      const worker = template("dev", "cna-worker").spec.containers[0]!;
      expect(Object.keys(worker.resources?.limits ?? {}).filter((k) => k.includes("gpu"))).toEqual([]);
      expect(flagsOf(worker.args!).get("provider") ?? "cpu").toBe("cpu");
    });

    it("gpu: one GPU per worker, the CUDA provider, GPU nodes only", () => {
      const pod = template("gpu", "cna-worker").spec;
      const worker = pod.containers[0]!;
      expect(worker.resources?.limits?.["nvidia.com/gpu"]).toBe(1);
      expect(worker.resources?.requests?.["nvidia.com/gpu"]).toBe(1);
      expect(flagsOf(worker.args!).get("provider")).toBe("cuda");
      expect(Object.keys(pod.nodeSelector ?? {}).length).toBeGreaterThan(0);
      expect(pod.tolerations?.map((t) => t.key)).toContain("nvidia.com/gpu");
      // the coordinator and NATS stay off the GPU nodes
      for (const app of ["cna-coordinator", "nats"]) expect(template("gpu", app).spec.tolerations).toBeUndefined();
    });
  });

  describe("monitoring (gpu)", () => {
    it("scrapes the coordinator's and every worker's --metrics port through a ServiceMonitor", () => {
      const objects = objectsOf("gpu");
      const templates = podTemplates(objects);
      const services = objects.filter((o) => o.kind === "Service");
      const scraped = new Set<string>();
      for (const sm of objects.filter((o) => o.kind === "ServiceMonitor")) {
        const spec = sm.spec as { selector: LabelSelector; endpoints: { port: string; path?: string }[] };
        const picked = services.filter((s) => selects(spec.selector, s.metadata.labels ?? {}));
        expect(picked.length, `${objectId(sm)} selects no Service`).toBeGreaterThan(0);
        for (const svc of picked) {
          const svcSpec = svc.spec as { selector: Record<string, string>; ports: ServicePort[] };
          for (const ep of spec.endpoints) {
            expect(ep.path ?? "/metrics").toBe("/metrics");
            const port = svcSpec.ports.find((p) => p.name === ep.port);
            expect(port, `${objectId(svc)} has no port ${ep.port}`).toBeDefined();
            for (const t of selected(templates, svcSpec.selector)) {
              const c = t.spec.containers[0]!;
              expect(containerPort([c], port!.targetPort!)).toBe(portOfAddress(flagsOf(c.args!).get("metrics")!));
              scraped.add(appOf(t));
            }
          }
        }
      }
      expect([...scraped].sort()).toEqual(["cna-coordinator", "cna-worker"]);
    });

    it("loads every Prometheus rule file of dashboards/rules as a PrometheusRule", () => {
      const rulesDir = join(ROOT, "dashboards", "rules");
      let files: string[] = [];
      try {
        files = readdirSync(rulesDir).filter((f) => /\.ya?ml$/.test(f));
      } catch {
        files = [];
      }
      const ruleFiles = files.filter((f) => !/^(rule_files|tests):/m.test(readFileSync(join(rulesDir, f), "utf8")));
      const rules = objectsOf("gpu").filter((o) => o.kind === "PrometheusRule");
      expect(rules.length).toBe(ruleFiles.length);
      for (const r of rules) {
        const names = (r.spec as { groups: { name: string }[] }).groups.map((g) => g.name);
        expect(new Set(names).size, `${objectId(r)}: group names must be unique`).toBe(names.length);
      }
    });
  });
});
