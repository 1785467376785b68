import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MetricsService } from '../../src/infra/metrics/metrics.service';

// The Grafana dashboard in the repo must only query metrics this service exports: every metric
// name in every PromQL expression (panels and template variables) exists in MetricsService's
// registry, allowing the series suffixes Prometheus derives (_bucket/_sum/_count of histograms and
// summaries, _total of counters).

const DASHBOARD = join(__dirname, '..', '..', 'monitoring', 'grafana', 'pm-agent-dashboard.json');

interface Panel {
  id?: number;
  type: string;
  title?: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; refId?: string }[];
  panels?: Panel[];
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan']);

/** Metric names used by a PromQL expression (a small scanner: enough for dashboard queries). */
export function metricNames(expr: string): string[] {
  let e = expr;
  const lv = /^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/s.exec(e);
  if (lv) e = lv[1];
  e = e
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\{[^{}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery selectors
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{?[a-zA-Z_]\w*\}?/g, ' '); // Grafana variables
  const names = new Set<string>();
  for (const m of e.matchAll(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2]) continue; // a function call
    if (KEYWORDS.has(m[1].toLowerCase())) continue;
    names.add(m[1]);
  }
  return [...names];
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

describe('Grafana dashboard (monitoring/grafana/pm-agent-dashboard.json)', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  const panels = allPanels(dashboard.panels as Panel[]);
  const exprs: { where: string; expr: string }[] = [
    ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr ?? '' }))),
    ...(dashboard.templating?.list ?? [])
      .filter((v: any) => v.type === 'query')
      .map((v: any) => ({ where: `variable $${v.name}`, expr: typeof v.query === 'string' ? v.query : v.query.query })),
  ];

  it('the scanner finds metric names and skips functions, labels, keywords and variables', () => {
    expect(metricNames('histogram_quantile(0.95, sum by (le, event) (rate(a_bucket{pod=~"$pod", x="y(z)"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNames('sum(rate(a{o="e"}[5m])) / ignoring(o) group_left sum(b offset 1h) and on (pod) c > bool 0')).toEqual(['a', 'b', 'c']);
    expect(metricNames('label_values(m{namespace=~"$namespace"}, pod)')).toEqual(['m']);
  });

  it('is a well-formed dashboard: uid, title, unique panel ids, Prometheus queries through the datasource variable', () => {
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.map((v: any) => v.name)).toEqual(expect.arrayContaining(['datasource', 'namespace', 'pod']));
    for (const p of panels) {
      expect(p.gridPos, p.title).toBeDefined();
      expect(p.gridPos!.x + p.gridPos!.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
    expect(exprs.length).toBeGreaterThan(20);
  });

  it("every metric in every expression exists in MetricsService's registry (derived suffixes allowed)", async () => {
    const registry = await new MetricsService().registry.getMetricsAsJSON();
    const types = new Map(registry.map((m) => [m.name, String(m.type)]));
    const known = (name: string): boolean => {
      if (types.has(name)) return true;
      const derived = /^(.*)_(bucket|sum|count)$/.exec(name);
      if (derived && ['histogram', 'summary'].includes(types.get(derived[1]) ?? '') && (derived[2] !== 'bucket' || types.get(derived[1]) === 'histogram')) return true;
      const total = /^(.*)_total$/.exec(name);
      return !!total && types.get(total[1]) === 'counter';
    };
    const unknown: string[] = [];
    const used = new Set<string>();
    for (const { where, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const n of names) {
        if (!known(n)) unknown.push(`${where}: ${n}`);
        used.add(n.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    expect(unknown).toEqual([]);

    // And the other way round: every pm-agent metric of our own (not the default process ones) has a panel.
    const own = registry.map((m) => m.name).filter((n) => !/^pm_agent_(process|nodejs)_/.test(n));
    expect(own.length).toBeGreaterThanOrEqual(11);
    expect(own.filter((n) => !used.has(n))).toEqual([]);
    // Process CPU and memory are on it too.
    expect([...used]).toEqual(expect.arrayContaining(['pm_agent_process_cpu_seconds_total', 'pm_agent_process_resident_memory_bytes']));
  });

  it('latency panels take p50, p95 and p99 of the request histogram per event', () => {
    for (const q of ['0.5', '0.95', '0.99']) {
      const e = exprs.find((x) => x.expr.startsWith(`histogram_quantile(${q},`));
      expect(e?.expr, q).toMatch(/sum by \(le, event\) \(rate\(pm_agent_request_duration_bucket\{/);
    }
  });
});
