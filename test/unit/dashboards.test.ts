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
  targets?: Array<{ expr?: string; refId?: string; datasource?: { uid?: string } }>;
  fieldConfig?: {
    defaults?: { unit?: string };
    overrides?: Array<{
      matcher?: { id?: string; options?: unknown };
      properties?: Array<{ id?: string; value?: unknown }>;
    }>;
  };
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
    // ours, and prom-client's default process_* and nodejs_* metrics
    expect(
      [...exported].every((n) => /^(cna|process|nodejs)_/.test(n)),
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

/** Each recording rule's expression, by the name it records. */
const recordedExpr = new Map(rules.flatMap((r) => (r.record ? [[r.record, r.expr] as const] : [])));

/**
 * What a metric name measures, from its suffix: seconds, bytes (`_bytes`, `_bytes_total`), counts
 * (`_total`, a histogram's `_count`), ratios. A recording rule's `level:metric:operations` name is
 * a ratio when its operations say so, else what its rule's expression reads. Other names give
 * null: no claim.
 */
export function unitOfMetric(name: string): string | null {
  const parts = name.split(":");
  if (parts.length === 3 && /^ratio/.test(parts[2]!)) return "ratio";
  const rule = recordedExpr.get(name);
  if (rule !== undefined) {
    const first = metricNamesIn(rule)[0];
    return first === undefined ? null : unitOfMetric(first);
  }
  if (/_count$/.test(name)) return "count";
  const base = name.replace(/_(?:bucket|sum)$/, "").replace(/_total$/, "");
  if (/_seconds$/.test(base)) return "seconds";
  if (/_bytes$/.test(base)) return "bytes";
  if (/_ratio$/.test(base)) return "ratio";
  if (/_total$/.test(name)) return "count";
  return null;
}

/** Each target's unit, by refId: the unit of the first metric its expression reads. */
function targetUnits(p: Panel): Array<{ refId: string; unit: string }> {
  return (p.targets ?? []).flatMap((t) => {
    const first = t.expr ? metricNamesIn(substituteVariables(t.expr))[0] : undefined;
    const unit = first === undefined ? null : unitOfMetric(first);
    return unit === null ? [] : [{ refId: t.refId ?? "", unit }];
  });
}

/** refIds whose unit an override sets (Grafana's "fields returned by query" matcher). */
function overriddenRefIds(p: Panel): Set<string> {
  const ids = new Set<string>();
  for (const o of p.fieldConfig?.overrides ?? []) {
    if (o.matcher?.id !== "byFrameRefID" || typeof o.matcher.options !== "string") continue;
    if ((o.properties ?? []).some((q) => q.id === "unit")) ids.add(o.matcher.options);
  }
  return ids;
}

describe("dashboard panels and units", () => {
  it("each panel's axis is one unit: its targets share one, or an override gives the others their own", () => {
    const mixed: string[] = [];
    for (const [file, d] of dashboards) {
      for (const p of panelsOf(d)) {
        const own = overriddenRefIds(p);
        const units = new Set(targetUnits(p).flatMap((t) => (own.has(t.refId) ? [] : [t.unit])));
        if (units.size > 1) mixed.push(`${file}: panel "${p.title}" mixes ${[...units].sort().join(" and ")}`);
      }
    }
    expect(mixed).toEqual([]);
  });

  it("reads a unit from a metric's name", () => {
    expect(
      [
        "cna_shard_latency_seconds_bucket",
        "cna_shards_failed_total",
        "cna_worker_shard_duration_seconds_count",
        "process_resident_memory_bytes",
        "cna_sweep_progress_ratio",
        "stage:cna_worker_shard_duration_seconds:quantile_rate5m",
        "model:cna_model_cache_hit:ratio_rate15m",
        "cna_ingested_bytes_total",
        "sweep:cna_ingested_bytes:rate5m",
        "sweep:cna_shards_completed:rate5m",
        "cna_worker_busy",
      ].map(unitOfMetric),
    ).toEqual(["seconds", "count", "count", "bytes", "ratio", "seconds", "ratio", "bytes", "bytes", "count", null]);
  });
});
