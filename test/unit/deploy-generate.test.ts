/**
 * deploy/generate.ts: the committed Grafana-dashboard ConfigMaps and PrometheusRules are what
 * dashboards/ generates today, and the generator turns dashboards and rule files into objects
 * that validate (a temp dashboards/ with one of each, so this holds however many the repo has).
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { crdSchemaErrors, kubernetesModelErrors, parseObjects, unknownFieldErrors } from "../../deploy/check.ts";
import type { K8sObject } from "../../deploy/check.ts";
import {
  DASHBOARDS_OUT,
  DeployGenerateError,
  RULES_OUT,
  objectSlug,
  renderGenerated,
  staleGenerated,
  writeGenerated,
} from "../../deploy/generate.ts";

const ROOT = join(import.meta.dirname, "..", "..");

describe("deploy/generate.ts", () => {
  const tmp = mkdtempSync(join(tmpdir(), "cna-deploy-generate-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("has written what dashboards/ generates (else run: node --import tsx deploy/generate.ts)", () => {
    expect(staleGenerated(ROOT, renderGenerated(join(ROOT, "dashboards")))).toEqual([]);
  });

  it("makes one labelled ConfigMap per dashboard and one PrometheusRule per rule file, skipping promtool tests", () => {
    const dashboards = join(tmp, "fixture", "dashboards");
    mkdirSync(join(dashboards, "rules"), { recursive: true });
    writeFileSync(
      join(dashboards, "Sweep Progress.json"),
      JSON.stringify({
        title: "cna-sweep: progress",
        panels: [{ type: "stat", targets: [{ expr: "sum(cna_shards_stored_total)" }] }],
      }),
    );
    writeFileSync(
      join(dashboards, "rules", "cna.yaml"),
      [
        "groups:",
        "  - name: cna-sweep",
        "    rules:",
        "      - record: cna:shards_stored:rate5m",
        "        expr: sum(rate(cna_shards_stored_total[5m]))",
        "      - alert: CnaNoProgress",
        "        expr: |",
        "          cna:shards_stored:rate5m == 0",
        "        for: 15m",
        "        labels: { severity: warning }",
        "        annotations: { summary: no shard stored for 15 minutes }",
        "",
      ].join("\n"),
    );
    writeFileSync(join(dashboards, "rules", "cna.test.yaml"), "rule_files: [cna.yaml]\ntests: []\n");

    const files = renderGenerated(dashboards);
    expect(files.map((f) => f.path).sort()).toEqual([
      `${DASHBOARDS_OUT}/grafana-dashboards.yaml`,
      `${DASHBOARDS_OUT}/kustomization.yaml`,
      `${RULES_OUT}/kustomization.yaml`,
      `${RULES_OUT}/prometheus-rules.yaml`,
    ]);
    const objects: K8sObject[] = files
      .filter((f) => !f.path.endsWith("kustomization.yaml"))
      .flatMap((f) => parseObjects(f.text, f.path));
    expect(objects.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual([
      "ConfigMap cna-dashboard-sweep-progress",
      "PrometheusRule cna",
    ]);
    expect(kubernetesModelErrors(objects)).toEqual([]);
    expect(unknownFieldErrors(objects)).toEqual([]);
    expect(crdSchemaErrors(objects)).toEqual([]);

    const configMap = objects[0] as K8sObject & { data: Record<string, string> };
    expect(configMap.metadata.labels?.grafana_dashboard).toBe("1");
    expect(JSON.parse(configMap.data["Sweep Progress.json"]!)).toMatchObject({ title: "cna-sweep: progress" });
    const kustomization = parse(files.find((f) => f.path === `${RULES_OUT}/kustomization.yaml`)!.text) as {
      resources: string[];
    };
    expect(kustomization.resources).toEqual(["prometheus-rules.yaml"]);
  }, 120_000);

  it("writes, then finds nothing stale; removes files it did not generate", () => {
    const root = join(tmp, "write");
    const dashboards = join(root, "dashboards");
    mkdirSync(dashboards, { recursive: true });
    writeFileSync(join(dashboards, "a.json"), "{}");
    mkdirSync(join(root, RULES_OUT), { recursive: true });
    writeFileSync(join(root, RULES_OUT, "left-over.yaml"), "kind: Stale\n");
    const files = renderGenerated(dashboards);
    expect(staleGenerated(root, files)).toContain(`${RULES_OUT}/left-over.yaml`);
    writeGenerated(root, files);
    expect(staleGenerated(root, files)).toEqual([]);
  });

  it("names the file it cannot read", () => {
    const dashboards = join(tmp, "bad", "dashboards");
    mkdirSync(join(dashboards, "rules"), { recursive: true });
    writeFileSync(join(dashboards, "broken.json"), "{ not json");
    expect(() => renderGenerated(dashboards)).toThrow(DeployGenerateError);
    expect(() => renderGenerated(dashboards)).toThrow(/broken\.json: not valid JSON/);
    rmSync(join(dashboards, "broken.json"));
    writeFileSync(join(dashboards, "rules", "odd.yaml"), "alerts: []\n");
    expect(() => renderGenerated(dashboards)).toThrow(/odd\.yaml: a Prometheus rule file needs a `groups` list/);
  });

  it("derives DNS-1123 object names from file names", () => {
    expect(objectSlug("Sweep Progress.json")).toBe("sweep-progress");
    expect(objectSlug("cna_alerts.yml")).toBe("cna-alerts");
    expect(() => objectSlug("__.json")).toThrow(DeployGenerateError);
  });
});
