/**
 * dashboards/ stays true (docs/architecture.md decision 9): the rule files pass `promtool check rules`,
 * their unit tests pass `promtool test rules`, every Grafana expression parses (promtool checks a
 * temporary rules file whose recording rules are the dashboards' expressions, with Grafana's
 * template variables substituted), every panel reads the `${datasource}` variable, and every
 * metric a dashboard or rule uses is exported by coordinator/metrics.ts or
 * worker/runtime/metrics.ts (read from their registries, not from a list kept by hand).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { CoordinatorMetrics } from "../../coordinator/index.ts";
import { WorkerMetrics } from "../../worker/index.ts";
import { promtool, promtoolPrerequisite } from "../helpers/prometheus.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const DASHBOARDS = join(ROOT, "dashboards");
const RULES = join(DASHBOARDS, "rules");
const RULE_FILES = readdirSync(RULES)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => join(RULES, f));
const RULE_TESTS = readdirSync(join(RULES, "tests"))
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => join(RULES, "tests", f));
const DASHBOARD_FILES = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith(".json"))
  .sort();

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
}

const rules: Rule[] = RULE_FILES.flatMap((f) =>
  (parse(readFileSync(f, "utf8")) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules),
);

interface Panel {
  title?: string;
  type: string;
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; datasource?: { uid?: string } }>;
  panels?: Panel[];
}

interface Dashboard {
  panels: Panel[];
  templating: {
    list: Array<{ name: string; type: string; query?: unknown; definition?: string; datasource?: { uid?: string } }>;
  };
}

const dashboards = new Map(
  DASHBOARD_FILES.map((f) => [f, JSON.parse(readFileSync(join(DASHBOARDS, f), "utf8")) as Dashboard]),
);

function panelsOf(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  const walk = (ps: readonly Panel[]) => ps.forEach((p) => (out.push(p), walk(p.panels ?? [])));
  walk(d.panels);
  return out;
}

/** Every PromQL expression of a dashboard, where it is, and `label_values(...)` turned into its selector. */
function expressionsOf(file: string, d: Dashboard): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const p of panelsOf(d))
    for (const t of p.targets ?? []) if (t.expr) out.push({ where: `${file}: panel "${p.title}"`, expr: t.expr });
  for (const v of d.templating.list) {
    if (v.type !== "query" || !v.definition) continue;
    const m = /^label_values\((.+),\s*\w+\)$/.exec(v.definition.trim());
    out.push({ where: `${file}: variable ${v.name}`, expr: m ? m[1]! : v.definition });
  }
  return out;
}

/** Grafana's variables replaced by what they stand for: `$__range`-like ones by a duration, the rest by a regex matching anything. */
export function substituteVariables(expr: string): string {
  return expr.replace(/\$(?:\{(\w+)(?::\w+)?\}|(\w+))/g, (_, braced: string | undefined, bare: string | undefined) =>
    (braced ?? bare)!.startsWith("__") ? "5m" : ".*",
  );
}

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
  "inf",
  "nan",
]);

/** Metric names a PromQL expression reads: identifiers that are not functions, keywords, labels, strings or durations. */
export function metricNamesIn(expr: string): string[] {
  const s = expr
    .replace(/#.*$/gm, "")
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()/g))
    if (!KEYWORDS.has(m[1]!.toLowerCase())) names.add(m[1]!);
  return [...names];
}

const exported = new Set([...new CoordinatorMetrics().metricNames(), ...new WorkerMetrics().metricNames()]);
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));

const tool = promtoolPrerequisite();

describe("dashboards and rules", () => {
  const tmp = mkdtempSync(join(tmpdir(), "cna-dashboards-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it.skipIf(tool.skip)("rule files pass promtool check rules", () => {
    tool.assert();
    const r = promtool(["check", "rules", ...RULE_FILES]);
    expect(r.status, r.output).toBe(0);
  });

  it.skipIf(tool.skip)("alert rules pass their promtool unit tests (each alert firing and not firing)", () => {
    tool.assert();
    const tested = new Set(
      RULE_TESTS.flatMap((f) => readFileSync(f, "utf8").match(/alertname: (\w+)/g) ?? []).map((m) =>
        m.slice("alertname: ".length),
      ),
    );
    expect([...tested].sort()).toEqual(rules.flatMap((r) => (r.alert ? [r.alert] : [])).sort());
    const r = promtool(["test", "rules", ...RULE_TESTS]);
    expect(r.status, r.output).toBe(0);
  });

  it.skipIf(tool.skip)("every dashboard expression parses as PromQL", () => {
    tool.assert();
    const exprs = [...dashboards].flatMap(([file, d]) => expressionsOf(file, d));
    expect(exprs.length).toBeGreaterThan(20);
    const file = join(tmp, "dashboard-expressions.yaml");
    const asRules = exprs.map((e, i) => ({ record: `dashboard:expression_${i}`, expr: substituteVariables(e.expr) }));
    writeFileSync(file, stringify({ groups: [{ name: "dashboard-expressions", rules: asRules }] }));
    const r = promtool(["check", "rules", file]);
    const where = (out: string) =>
      out.replace(
        /dashboard:expression_(\d+)/g,
        (_, i: string) => `${exprs[Number(i)]!.where}: ${exprs[Number(i)]!.expr}`,
      );
    expect(r.status, where(r.output)).toBe(0);
  });

  it("every panel and query variable reads the ${datasource} variable", () => {
    for (const [file, d] of dashboards) {
      expect(
        d.templating.list.filter((v) => v.type === "datasource").map((v) => v.name),
        file,
      ).toEqual(["datasource"]);
      for (const p of panelsOf(d).filter((p) => p.type !== "row")) {
        expect(p.datasource?.uid, `${file}: panel "${p.title}"`).toBe("${datasource}");
        for (const t of p.targets ?? []) expect(t.datasource?.uid, `${file}: panel "${p.title}"`).toBe("${datasource}");
      }
      for (const v of d.templating.list.filter((v) => v.type === "query"))
        expect(v.datasource?.uid, `${file}: variable ${v.name}`).toBe("${datasource}");
    }
  });

  it("uses only metrics the coordinator or the workers export", () => {
    expect(
      [...exported].every((n) => n.startsWith("cna_")),
      [...exported].join(", "),
    ).toBe(true);
    const uses = [
      ...rules.map((r) => ({ where: `rule ${r.record ?? r.alert}`, expr: r.expr })),
      ...[...dashboards].flatMap(([file, d]) => expressionsOf(file, d)),
    ];
    const unknown: string[] = [];
    for (const u of uses) {
      for (const name of metricNamesIn(substituteVariables(u.expr))) {
        if (recorded.has(name) || exported.has(name) || exported.has(name.replace(/_(?:bucket|sum|count)$/, "")))
          continue;
        unknown.push(`${u.where}: ${name}`);
      }
    }
    expect(unknown).toEqual([]);
    // the extraction itself: functions, labels, keywords, strings and durations are not metrics
    expect(
      metricNamesIn(
        'sum by (sweep) (rate(cna_a_total{x="y_z"}[5m])) / on (sweep) group_left cna_b offset 1m > bool 0.5 and cna_c:d',
      ),
    ).toEqual(["cna_a_total", "cna_b", "cna_c:d"]);
  });
});
