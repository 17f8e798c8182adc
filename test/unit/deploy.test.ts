/**
 * deploy/ renders and holds together, with no cluster: every overlay renders with
 * `kubectl kustomize`; every object validates (Kubernetes schemas through kubernetes-models, no
 * unknown fields through a TypeScript `satisfies` check, strict JSON schemas for KEDA and
 * Prometheus Operator objects); and the workloads keep their promises: resources, probes,
 * non-root and locked-down containers, selectors that match, Services that reach a port, a PDB
 * over the workers, and `cna` flags that the CLI knows and that agree with the ports declared.
 * Network policy, autoscaling, monitoring and secrets: deploy-policy.test.ts.
 */
import { describe, expect, it } from "vitest";
import { COMMANDS } from "../../cli/index.ts";
import { OVERLAYS, objectId, renderKustomization, schemaErrors } from "../../deploy/check.ts";
import type { K8sObject } from "../../deploy/check.ts";
import {
  containerPort,
  flagsOf,
  named,
  podTemplates,
  portOfAddress,
  quantity,
  selected,
  selects,
} from "../../deploy/inspect.ts";
import type { PodTemplate, ServicePort } from "../../deploy/inspect.ts";
import { kubectl, renderOverlaysBeforeAll } from "../helpers/deploy.ts";

/** The coordinator's and workers' pods (images from deploy/docker, running `cna`), not NATS. */
const isCna = (t: PodTemplate): boolean => t.labels["app.kubernetes.io/name"]?.startsWith("cna-") ?? false;

describe.skipIf(kubectl.skip)("deploy/ renders and validates", () => {
  const objectsOf = renderOverlaysBeforeAll();

  it("renders the base on its own (a cluster without KEDA or the Prometheus Operator)", () => {
    const kinds = new Set(renderKustomization("base").map((o) => o.kind));
    expect(kinds).not.toContain("ScaledObject");
    expect(kinds).not.toContain("ServiceMonitor");
    expect(kinds).toContain("StatefulSet");
  }, 120_000);

  describe.each(OVERLAYS)("overlay %s", (overlay) => {
    it("validates: Kubernetes schemas, no unknown fields, strict schemas for custom resources", () => {
      expect(schemaErrors(objectsOf(overlay))).toEqual([]);
    }, 300_000);

    it("puts everything in the namespace cna, one object per kind and name", () => {
      const objects = objectsOf(overlay);
      expect(objects.filter((o) => o.kind !== "Namespace" && o.metadata.namespace !== "cna").map(objectId)).toEqual([]);
      expect(named(objects, "Namespace", "cna").metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe(
        "restricted",
      );
      const ids = objects.map(objectId);
      expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    });

    it("runs NATS, the coordinator and the workers", () => {
      expect(
        podTemplates(objectsOf(overlay))
          .map((t) => objectId(t.owner))
          .sort(),
      ).toEqual(["Deployment cna/cna-coordinator", "Deployment cna/cna-worker", "StatefulSet cna/nats"]);
    });

    it("selects each workload's own pods, and only them", () => {
      const templates = podTemplates(objectsOf(overlay));
      for (const t of templates) {
        expect(selects(t.selector, t.labels), `${objectId(t.owner)}: selector does not match its template`).toBe(true);
        expect(
          selected(templates, t.selector).map((s) => objectId(s.owner)),
          `${objectId(t.owner)}: selector overlaps another workload`,
        ).toEqual([objectId(t.owner)]);
      }
    });

    it("gives every container requests and limits for cpu and memory, limits ≥ requests", () => {
      for (const t of podTemplates(objectsOf(overlay))) {
        for (const c of [...(t.spec.initContainers ?? []), ...t.spec.containers]) {
          const where = `${objectId(t.owner)} container ${c.name}`;
          const { requests = {}, limits = {} } = c.resources ?? {};
          for (const r of ["cpu", "memory"]) {
            expect(requests[r], `${where}: requests.${r}`).toBeDefined();
            expect(limits[r], `${where}: limits.${r}`).toBeDefined();
            expect(quantity(limits[r]!), `${where}: limits.${r} < requests.${r}`).toBeGreaterThanOrEqual(
              quantity(requests[r]!),
            );
          }
          // extended resources (GPUs) cannot be overcommitted: Kubernetes wants them equal
          for (const r of Object.keys(limits).filter((k) => k.includes("/")))
            expect(requests[r], `${where}: ${r}`).toEqual(limits[r]);
        }
      }
    });

    it("probes every container, on a port it declares; gRPC health for the cna deployables", () => {
      for (const t of podTemplates(objectsOf(overlay))) {
        for (const c of t.spec.containers) {
          const where = `${objectId(t.owner)} container ${c.name}`;
          for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
            if (probe === undefined) continue;
            const port = probe.grpc?.port ?? probe.httpGet?.port ?? probe.tcpSocket?.port;
            expect(port, `${where}: probe without a port`).toBeDefined();
            expect(containerPort([c], port!), `${where}: probe port ${port} not declared`).toBeDefined();
          }
          expect(c.readinessProbe, `${where}: readinessProbe`).toBeDefined();
          expect(c.livenessProbe, `${where}: livenessProbe`).toBeDefined();
          if (isCna(t)) {
            expect(c.readinessProbe?.grpc, `${where}: gRPC readiness`).toBeDefined();
            expect(c.livenessProbe?.grpc, `${where}: gRPC liveness`).toBeDefined();
          }
        }
      }
    });

    it("runs every container non-root, without privilege escalation, capabilities or a writable root", () => {
      for (const t of podTemplates(objectsOf(overlay))) {
        const pod = t.spec.securityContext ?? {};
        expect(pod.seccompProfile?.type, `${objectId(t.owner)}: seccompProfile`).toBe("RuntimeDefault");
        expect(t.spec.automountServiceAccountToken, `${objectId(t.owner)}: automountServiceAccountToken`).toBe(false);
        expect(t.spec.hostNetwork ?? false).toBe(false);
        for (const c of [...(t.spec.initContainers ?? []), ...t.spec.containers]) {
          const where = `${objectId(t.owner)} container ${c.name}`;
          const sc = c.securityContext ?? {};
          expect(sc.runAsNonRoot ?? pod.runAsNonRoot, `${where}: runAsNonRoot`).toBe(true);
          expect(sc.runAsUser ?? pod.runAsUser ?? 0, `${where}: a numeric non-root UID`).toBeGreaterThan(0);
          expect(sc.allowPrivilegeEscalation, `${where}: allowPrivilegeEscalation`).toBe(false);
          expect(sc.privileged ?? false, `${where}: privileged`).toBe(false);
          expect(sc.capabilities?.drop, `${where}: capabilities.drop`).toContain("ALL");
          expect(sc.capabilities?.add ?? [], `${where}: capabilities.add`).toEqual([]);
          expect(sc.readOnlyRootFilesystem, `${where}: readOnlyRootFilesystem`).toBe(true);
          if (isCna(t))
            expect(
              c.volumeMounts?.map((m) => m.mountPath),
              `${where}: tsx needs a writable /tmp`,
            ).toContain("/tmp");
        }
      }
    });

    it("mounts only volumes that exist, from objects that exist", () => {
      const objects = objectsOf(overlay);
      for (const t of podTemplates(objects)) {
        const claimTemplates = (
          (t.owner.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []
        ).map((v) => v.metadata.name);
        const volumes = new Set([...(t.spec.volumes ?? []).map((v) => v.name), ...claimTemplates]);
        for (const c of t.spec.containers)
          for (const m of c.volumeMounts ?? [])
            expect(volumes.has(m.name), `${objectId(t.owner)}: mount ${m.name} has no volume`).toBe(true);
        for (const v of t.spec.volumes ?? []) {
          if (v.persistentVolumeClaim) named(objects, "PersistentVolumeClaim", v.persistentVolumeClaim.claimName);
          if (v.configMap) named(objects, "ConfigMap", v.configMap.name!);
        }
        expect(t.spec.serviceAccountName, `${objectId(t.owner)}: its own ServiceAccount`).toBeDefined();
        expect(named(objects, "ServiceAccount", t.spec.serviceAccountName!).automountServiceAccountToken).toBe(false);
      }
    });

    it("routes every Service port to a port its pods declare", () => {
      const objects = objectsOf(overlay);
      const templates = podTemplates(objects);
      for (const svc of objects.filter((o) => o.kind === "Service")) {
        const spec = svc.spec as { selector?: Record<string, string>; ports: ServicePort[] };
        const pods = selected(templates, spec.selector);
        expect(pods.length, `${objectId(svc)} selects no pod`).toBeGreaterThan(0);
        for (const p of spec.ports) {
          for (const pod of pods)
            expect(
              containerPort(pod.spec.containers, p.targetPort ?? p.port),
              `${objectId(svc)} port ${p.name}: ${objectId(pod.owner)} has no ${p.targetPort}`,
            ).toBeDefined();
        }
      }
    });

    it("covers the workers, and only them, with a PodDisruptionBudget", () => {
      const objects = objectsOf(overlay);
      const pdbs = objects.filter((o) => o.kind === "PodDisruptionBudget");
      expect(pdbs.map((o) => o.metadata.name)).toEqual(["cna-worker"]);
      const spec = pdbs[0]!.spec as { selector: PodTemplate["selector"]; maxUnavailable?: number | string };
      expect(selected(podTemplates(objects), spec.selector).map((t) => objectId(t.owner))).toEqual([
        "Deployment cna/cna-worker",
      ]);
      // a PDB that allows no eviction would block every node drain
      expect(spec.maxUnavailable).toBeDefined();
    });

    it("starts `cna` with flags the CLI knows, listening on the ports it declares", () => {
      const objects = objectsOf(overlay);
      const templates = podTemplates(objects);
      const cna = templates.filter(isCna).flatMap((t) => t.spec.containers.map((c) => ({ t, c })));
      expect(cna.map(({ c }) => c.args?.[0]).sort()).toEqual(["coordinator", "worker"]);
      for (const { t, c } of cna) {
        const where = `${objectId(t.owner)} container ${c.name}`;
        const command = COMMANDS.find((k) => k.name === c.args?.[0]);
        expect(command, `${where}: no cna command ${c.args?.[0]}`).toBeDefined();
        const flags = flagsOf(c.args!);
        const known = new Map(command!.flags.map((f) => [f.name, f]));
        for (const [name, value] of flags) {
          expect(known.has(name), `${where}: cna ${command!.name} has no --${name}`).toBe(true);
          expect(
            value === "",
            `${where}: --${name} ${known.get(name)?.value ? "needs a value" : "takes no value"}`,
          ).toBe(known.get(name)?.value === undefined);
        }
        for (const f of command!.flags.filter((x) => x.required))
          expect(flags.has(f.name), `${where}: --${f.name} is required`).toBe(true);
        for (const name of ["listen", "metrics"]) {
          expect(flags.has(name), `${where}: --${name} (probes and Prometheus need it)`).toBe(true);
          expect(
            containerPort([c], portOfAddress(flags.get(name)!)),
            `${where}: --${name} port not declared`,
          ).toBeDefined();
          expect(flags.get(name)!.startsWith("0.0.0.0:"), `${where}: --${name} must listen on all interfaces`).toBe(
            true,
          );
        }
        const natsUrl = new URL(flags.get("nats")!);
        const nats = named(objects, "Service", natsUrl.hostname).spec as { ports: ServicePort[] };
        expect(nats.ports.map((p) => p.port)).toContain(Number(natsUrl.port));
        const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
        for (const file of ["token-file", "nats-pass-file"])
          expect(
            mounts.some((m) => flags.get(file)!.startsWith(`${m}/`)),
            `${where}: --${file} is not on a mounted volume`,
          ).toBe(true);
      }
    });

    it("sends workers to the coordinator's Service port, and keeps the coordinator's state on its volume", () => {
      const objects = objectsOf(overlay);
      const templates = podTemplates(objects);
      const worker = named(objects, "Deployment", "cna-worker");
      const workerArgs = flagsOf(templates.find((t) => t.owner === worker)!.spec.containers[0]!.args!);
      const [host, port] = workerArgs.get("coordinator")!.split(":") as [string, string];
      const svc = named(objects, "Service", host).spec as { ports: ServicePort[]; selector: Record<string, string> };
      const grpc = svc.ports.find((p) => p.port === Number(port));
      expect(grpc?.name).toBe("grpc");
      const coordinator = named(objects, "Deployment", "cna-coordinator");
      expect(selects(svc.selector, templates.find((t) => t.owner === coordinator)!.labels)).toBe(true);
      const spec = coordinator.spec as { replicas: number; strategy: { type: string } };
      expect(spec.replicas).toBe(1);
      expect(spec.strategy.type).toBe("Recreate");
      const pod = templates.find((t) => t.owner === coordinator)!.spec;
      const data = flagsOf(pod.containers[0]!.args!).get("data")!;
      const mount = pod.containers[0]!.volumeMounts!.find((m) => m.mountPath === data);
      expect(
        pod.volumes!.find((v) => v.name === mount?.name)?.persistentVolumeClaim,
        "--data is on the PersistentVolumeClaim",
      ).toBeDefined();
    });

    it("runs NATS with JetStream on its volume and the monitoring port open", () => {
      const objects = objectsOf(overlay);
      const nats = podTemplates(objects).find((t) => t.owner.kind === "StatefulSet")!;
      const c = nats.spec.containers[0]!;
      expect(c.image).toMatch(/^nats:2\.(9|10)(\.\d+)?(-alpine)?$/);
      expect(c.args).toEqual(expect.arrayContaining(["-js", "-sd", "/data"]));
      expect(c.volumeMounts?.find((m) => m.mountPath === "/data")?.name).toBe("data");
      const config = objects.find(
        (o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("nats-config"),
      ) as K8sObject & { data: Record<string, string> };
      expect(config.data["nats.conf"]).toMatch(/^http_port: 8222$/m);
      expect(containerPort([c], 8222)).toBe(8222);
    });
  });
});
