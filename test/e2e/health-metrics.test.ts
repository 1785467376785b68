import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagementServer } from '../../src/infra/health/management-server';
import { startTestApp, type TestApp } from '../support/app';
import { ApiClient, type AgentSocket } from '../support/client';
import { eventually } from '../support/eventually';

// The management port (MANAGEMENT_PORT, 0 = any free port here): liveness, readiness and
// Prometheus metrics, and the metrics moving with what agents do.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: Sample[];
}

/** Parses the Prometheus text exposition format (0.0.4), failing on any line that is not valid. */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      if (m[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(m[3]);
        types.set(m[2], m[3]);
      } else help.set(m[2], m[3]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    if (!m) throw new Error(`not a valid exposition line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    let consumed = 0;
    for (let l = re.exec(body); l; l = re.exec(body)) {
      labels[l[1]] = l[2];
      consumed = re.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`bad label set in ${JSON.stringify(line)}`);
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`bad value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels, value });
  }
  // Every sample belongs to a family announced by a TYPE line.
  for (const s of samples) {
    const family = [s.name, s.name.replace(/_(bucket|sum|count)$/, '')].find((n) => types.has(n));
    if (!family) throw new Error(`sample ${s.name} has no # TYPE line`);
  }
  return { types, help, samples };
}

const matches = (s: Sample, name: string, labels: Record<string, string> = {}) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);

describe('health and metrics on the management port (embedded)', { timeout: 120_000 }, () => {
  let t: TestApp;
  let api: ApiClient;
  let mgmt: string;
  const sockets: AgentSocket[] = [];

  const scrape = async (): Promise<Exposition> => {
    const r = await fetch(`${mgmt}/metrics`);
    expect(r.status).toBe(200);
    return parseExposition(await r.text());
  };
  const value = (e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined =>
    e.samples.filter((s) => matches(s, name, labels)).reduce<number | undefined>((sum, s) => (sum ?? 0) + s.value, undefined);

  beforeAll(async () => {
    t = await startTestApp('embedded');
    api = new ApiClient(t.url, t.adminKey);
    const port = t.app.get(ManagementServer).port;
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(Number(new URL(t.url).port));
    mgmt = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.close();
  });

  it('/health/live is 200 and /health/ready is 200 with its checks, on the management and the public port', async () => {
    for (const base of [mgmt, t.url]) {
      const live = await fetch(`${base}/health/live`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${base}/health/ready`);
      expect(ready.status).toBe(200);
      expect(ready.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await ready.json()).toEqual({ status: 'ok', checks: { database: 'up', events: 'up' } });
    }
    expect((await fetch(`${mgmt}/nope`)).status).toBe(404);
    expect((await fetch(`${mgmt}/health/ready`, { method: 'POST' })).status).toBe(405);
    // Metrics stay off the public port (the Ingress exposes it).
    expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
  });

  it('/metrics is the Prometheus text format with every pm-agent metric and the process metrics', async () => {
    const r = await fetch(`${mgmt}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    const e = parseExposition(text);
    const expected: Record<string, string> = {
      pm_agent_connections: 'gauge',
      pm_agent_task_assignments: 'counter',
      pm_agent_request_duration: 'histogram',
      pm_agent_leases_active: 'gauge',
      pm_agent_leases_overdue: 'gauge',
      pm_agent_leases_recovered: 'counter',
      pm_agent_outbox_pending: 'gauge',
      pm_agent_outbox_lag_seconds: 'gauge',
      pm_agent_consumer_failures: 'counter',
      pm_agent_dead_lettered: 'counter',
      pm_agent_kanban_breaker_open: 'gauge',
      pm_agent_process_cpu_user_seconds_total: 'counter',
      pm_agent_process_cpu_system_seconds_total: 'counter',
      pm_agent_process_resident_memory_bytes: 'gauge',
      pm_agent_nodejs_heap_size_used_bytes: 'gauge',
      pm_agent_nodejs_eventloop_lag_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) {
      expect(e.types.get(name), name).toBe(type);
      expect(e.help.get(name), name).toBeTruthy();
    }
    // Gauges and counters without labels are exported from the start (0 until something happens).
    for (const name of ['pm_agent_connections', 'pm_agent_task_assignments', 'pm_agent_leases_recovered', 'pm_agent_leases_active', 'pm_agent_outbox_pending', 'pm_agent_outbox_lag_seconds', 'pm_agent_kanban_breaker_open']) {
      expect(value(e, name), name).toBeGreaterThanOrEqual(0);
    }
    expect(value(e, 'pm_agent_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value(e, 'pm_agent_process_resident_memory_bytes')).toBeGreaterThan(1e6);
  });

  it('values move: two agents connected, one assignment, request_next_task in the histogram per event', async () => {
    const before = await scrape();
    expect(value(before, 'pm_agent_connections')).toBe(0);
    expect(value(before, 'pm_agent_task_assignments')).toBe(0);
    expect(value(before, 'pm_agent_request_duration_count', { event: 'request_next_task' })).toBeUndefined();

    const project = await api.createProject('metrics');
    const task = await api.addTask(project.id, { name: 'measure me', description: 'one task', priority: 'high', labels: ['backend'] });
    sockets.push(...(await api.agents(project.api_key, ['m-1', 'm-2'], ['backend'])));
    await eventually(async () => expect(value(await scrape(), 'pm_agent_connections')).toBe(2));

    const first = await sockets[0].call('request_next_task', { agent_id: 'm-1' });
    expect(first.task.id).toBe(task.id);
    const second = await sockets[1].call('request_next_task', { agent_id: 'm-2' });
    expect(second.task ?? null).toBeNull(); // nothing left: not an assignment

    const after = await scrape();
    expect(value(after, 'pm_agent_task_assignments')).toBe(1);
    expect(value(after, 'pm_agent_request_duration_count', { event: 'request_next_task' })).toBe(2);
    expect(value(after, 'pm_agent_request_duration_count', { event: 'register_agent' })).toBe(2);
    const buckets = after.samples.filter((s) => matches(s, 'pm_agent_request_duration_bucket', { event: 'request_next_task', outcome: 'ok' }));
    expect(buckets.map((b) => b.labels.le)).toContain('+Inf');
    expect(buckets.length).toBeGreaterThan(5);
    // Cumulative buckets, ending at the count.
    const les = buckets.map((b) => b.value);
    expect([...les].sort((a, b) => a - b)).toEqual(les);
    expect(buckets.find((b) => b.labels.le === '+Inf')!.value).toBe(value(after, 'pm_agent_request_duration_count', { event: 'request_next_task', outcome: 'ok' }));
    expect(value(after, 'pm_agent_request_duration_sum', { event: 'request_next_task' })).toBeGreaterThan(0);
    // The lease just granted is counted (scrape-time gauge read from the database).
    expect(value(after, 'pm_agent_leases_active')).toBe(1);

    sockets.pop()!.close();
    await eventually(async () => expect(value(await scrape(), 'pm_agent_connections')).toBe(1));
  });
});
