import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardRefresher } from '../../src/modules/dashboard/dashboard-refresher.service';
import type { DashboardSnapshot } from '../../src/modules/dashboard/dashboard.service';
import { startTestApp, type TestApp } from '../support/app';
import { ApiClient, type AgentSocket } from '../support/client';
import { connectViewer, refusal, type DashboardViewer } from '../support/dashboard-client';
import { settled } from '../support/db-snapshot';
import { eventually } from '../support/eventually';

// The /dashboard namespace without a browser: who may open which project, from which origin, that
// it is read-only, and that what it shows is what the database holds.

const OTHER_ORIGIN = 'http://ops.example.com';
const NOBODY = '00000000-0000-4000-8000-000000000000';

describe('dashboard namespace (embedded)', () => {
  let t: TestApp;
  let api: ApiClient;
  let a: { id: string; api_key: string };
  let b: { id: string; api_key: string };
  const agents: AgentSocket[] = [];
  const viewers: DashboardViewer[] = [];
  const view = async (auth: { key?: string; project_id?: string }, origin?: string) => {
    const v = await connectViewer(t.url, auth, origin);
    viewers.push(v);
    return v;
  };

  beforeAll(async () => {
    t = await startTestApp('embedded', { DASHBOARD_REFRESH_MS: '150', KEY_REVOCATION_POLL_MS: '200' });
    api = new ApiClient(t.url, t.adminKey);
    a = await api.createProject('Project A');
    b = await api.createProject('Project B');
    for (const [i, p] of ['urgent', 'high', 'medium', 'low', 'medium'].entries()) await api.addTask(a.id, { name: `A task ${i}`, priority: p, labels: [`l${i}`] });
    await api.addTask(b.id, { name: 'B secret task' });
    // Agent 1 holds a task and reports a blocker; agent 2 finishes one; agent 3 is idle.
    agents.push(...(await api.agents(a.api_key, ['dash-1', 'dash-2', 'dash-3'])));
    const [one, two] = agents;
    const t1 = await one.call('request_next_task', { agent_id: 'dash-1' });
    const blocked = await one.call('report_blocker', {
      agent_id: 'dash-1',
      task_id: t1.task.id,
      blocker_description: 'waiting on the upstream API contract',
      severity: 'high',
      lease_token: t1.task.lease.token,
    });
    expect(blocked.success).toBe(true);
    const t2 = await two.call('request_next_task', { agent_id: 'dash-2' });
    const done = await two.call('report_task_progress', { agent_id: 'dash-2', task_id: t2.task.id, status: 'completed', progress: 100, message: 'done', lease_token: t2.task.lease.token });
    expect(done.success).toBe(true);
  });

  afterAll(async () => {
    for (const v of viewers) v.close();
    for (const s of agents) s.close();
    await t?.close();
  });

  it('refuses a missing or wrong key', async () => {
    for (const auth of [{}, { key: 'pmk_0000000000000000_' + 'x'.repeat(43) }, { key: 'not a key' }, { key: `${t.adminKey}x`, project_id: a.id }]) {
      const { error, received } = await refusal(t.url, auth);
      expect(error.data?.code).toBe('UNAUTHORIZED');
      expect(received).toEqual([]);
    }
  });

  it("refuses project A's key for project B (or any other id) and tells it nothing", async () => {
    const refusals = await Promise.all([b.id, NOBODY, 'not-a-uuid'].map((id) => refusal(t.url, { key: a.api_key, project_id: id })));
    for (const { error, received } of refusals) {
      expect(error.data?.code).toBe('FORBIDDEN');
      expect(received).toEqual([]);
    }
    // Same answer whether B exists or not: nothing to learn from it.
    expect(refusals[0].error.message).toBe(refusals[1].error.message);
    expect(JSON.stringify(refusals.map((r) => [r.error.message, r.error.data]))).not.toMatch(/Project B|B secret/);
  });

  it("opens a project key's own project with or without project_id", async () => {
    const v1 = await view({ key: a.api_key });
    const v2 = await view({ key: a.api_key, project_id: a.id });
    for (const v of [v1, v2]) expect((await v.until(() => true)).project).toEqual({ id: a.id, name: 'Project A' });
  });

  it('lets the admin key open any project, and list them when it names none', async () => {
    const va = await view({ key: t.adminKey, project_id: a.id });
    const vb = await view({ key: t.adminKey, project_id: b.id });
    expect((await va.until(() => true)).project.name).toBe('Project A');
    const sb = await vb.until(() => true);
    expect(sb.project.name).toBe('Project B');
    expect(sb.columns.find((c) => c.status === 'todo')?.cards.map((c) => c.name)).toEqual(['B secret task']);

    const picker = await view({ key: t.adminKey });
    const list = await new Promise<{ projects: { id: string; name: string }[] }>((resolve) => picker.socket.once('projects', resolve));
    expect(list.projects.map((p) => p.id)).toEqual(expect.arrayContaining([a.id, b.id]));
    expect(picker.snapshots).toEqual([]);

    expect((await refusal(t.url, { key: t.adminKey, project_id: NOBODY })).error.data?.code).toBe('PROJECT_NOT_FOUND');
  });

  it('refuses a foreign Origin by default, accepts its own', async () => {
    const { error } = await refusal(t.url, { key: a.api_key }, OTHER_ORIGIN);
    expect(error.data?.code).toBe('FORBIDDEN');
    expect(error.message).toMatch(/Origin/);
    expect((await refusal(t.url, { key: a.api_key }, 'null')).error.data?.code).toBe('FORBIDDEN');
    const own = await view({ key: a.api_key }, t.url);
    expect((await own.until(() => true)).project.id).toBe(a.id);
  });

  it('ignores whatever a viewer emits: answers an error and changes nothing', async () => {
    const v = await view({ key: t.adminKey, project_id: a.id });
    const snap = await v.until(() => true);
    const held = snap.agents.list.find((x) => x.id === 'dash-1')?.tasks[0];
    expect(held).toBeDefined();
    const before = await settled(t);
    const attempts: [string, unknown][] = [
      ['report_task_progress', { agent_id: 'dash-1', task_id: held?.task_id, status: 'completed', progress: 100 }],
      ['register_agent', { agent_id: 'intruder', name: 'x', role: 'developer', skills: [] }],
      ['request_next_task', { agent_id: 'dash-3' }],
      ['create_task', { name: 'injected' }],
    ];
    for (const [event, payload] of attempts) {
      const answer = (await v.socket.timeout(5000).emitWithAck(event, payload)) as { success: boolean; code: string };
      expect(answer).toMatchObject({ success: false, code: 'FORBIDDEN' });
      v.socket.emit(event, payload); // and without an ack
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(await settled(t)).toEqual(before);
    expect(v.socket.connected).toBe(true);
  });

  it('shows what the database holds', async () => {
    const v = await view({ key: a.api_key });
    const s: DashboardSnapshot = await v.until(() => true);
    const tasks = await t.db.query<{ id: string; status: string; assigned_to: string | null }>('SELECT id, status, assigned_to FROM tasks WHERE project_id = $1', [a.id]);
    for (const col of s.columns) {
      const ids = tasks.rows.filter((r) => r.status === col.status).map((r) => r.id);
      expect(col.count).toBe(ids.length);
      expect(col.cards.map((c) => c.id).sort()).toEqual([...ids].sort());
    }
    expect(s.columns.map((c) => c.status)).toEqual(['todo', 'in_progress', 'blocked', 'done']);
    // Open columns list the most urgent first.
    const rank = { urgent: 0, high: 1, medium: 2, low: 3 };
    const ranks = s.columns[0].cards.map((c) => rank[c.priority]);
    expect(ranks).toEqual([...ranks].sort((x, y) => x - y));

    const held = await t.db.query<{ agent_id: string; task_id: string; lease_expires_at: Date }>("SELECT agent_id, task_id, lease_expires_at FROM assignments WHERE project_id = $1 AND state = 'active'", [a.id]);
    expect(held.rows).toHaveLength(1);
    const one = s.agents.list.find((x) => x.id === 'dash-1');
    expect(one).toMatchObject({ status: 'blocked', connected: true, tasks: [{ task_id: held.rows[0].task_id, lease_expires_at: held.rows[0].lease_expires_at.toISOString() }] });
    expect(s.agents.list.find((x) => x.id === 'dash-2')).toMatchObject({ status: 'idle', connected: true, tasks: [], total_completed: 1 });
    expect(s.agents).toMatchObject({ total: 3, connected: 3 });

    const blockers = await t.db.query<{ id: string; task_id: string }>('SELECT id, task_id FROM blockers WHERE project_id = $1', [a.id]);
    expect(s.blockers.map((x) => x.id)).toEqual(blockers.rows.map((x) => x.id));
    expect(s.blockers[0]).toMatchObject({ severity: 'high', agent_id: 'dash-1', description: 'waiting on the upstream API contract' });
    expect(s.blockers[0].analysis?.root_cause).toBeTruthy();
    expect(s.blockers[0].suggestions.length).toBeGreaterThan(0);

    expect(s.throughput).toMatchObject({ last_hour: 1, last_24h: 1, done_total: 1, tasks_total: 5 });
    expect(s.throughput.per_hour).toHaveLength(24);
    expect(s.throughput.per_hour[0]).toBe(1);
    expect(Math.abs(Date.parse(s.server_time) - Date.now())).toBeLessThan(5000);
  });

  it('ends the views of a key revoked while they watch', async () => {
    const extra = await api.request('POST', `/api/v1/projects/${a.id}/keys`, { label: 'wall screen' }, t.adminKey);
    expect(extra.status).toBe(201);
    const v = await view({ key: extra.body.api_key });
    await v.until(() => true);
    const ended = new Promise<{ code: string }>((resolve) => v.socket.once('session_ended', resolve));
    const closed = new Promise<string>((resolve) => v.socket.once('disconnect', resolve));
    expect((await api.request('DELETE', `/api/v1/projects/${a.id}/keys/${extra.body.id}`, undefined, t.adminKey)).status).toBe(200);
    expect((await ended).code).toBe('UNAUTHORIZED');
    expect(await closed).toBe('io server disconnect');
    expect((await refusal(t.url, { key: extra.body.api_key })).error.data?.code).toBe('UNAUTHORIZED');
  });

  it('pushes a fresh snapshot when the project changes, and stops watching when the viewer leaves', async () => {
    const refresher = t.app.get(DashboardRefresher);
    const v = await view({ key: a.api_key });
    const first = await v.until(() => true);
    const task = await api.addTask(a.id, { name: 'Arrives live', priority: 'urgent' });
    const next = await v.until((s) => s.columns[0].cards.some((c) => c.id === task.id));
    expect(next.columns[0].count).toBe(first.columns[0].count + 1);
    // Nothing changed since: no further push (the server clock alone is not a change).
    const count = v.snapshots.length;
    await new Promise((r) => setTimeout(r, 600));
    expect(v.snapshots.length).toBe(count);

    for (const x of viewers.splice(0)) x.close();
    await eventually(async () => expect(refresher.watchedProjects).toBe(0));
  });
});

describe('dashboard namespace with DASHBOARD_ALLOWED_ORIGINS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('embedded', { DASHBOARD_ALLOWED_ORIGINS: `${OTHER_ORIGIN}, https://second.example.com:8443` });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('accepts a listed origin and still refuses others', async () => {
    const p = await new ApiClient(t.url, t.adminKey).createProject('Listed');
    const v = await connectViewer(t.url, { key: p.api_key }, OTHER_ORIGIN);
    try {
      expect((await v.until(() => true)).project.name).toBe('Listed');
    } finally {
      v.close();
    }
    const second = await connectViewer(t.url, { key: p.api_key }, 'https://second.example.com:8443');
    second.close();
    expect((await refusal(t.url, { key: p.api_key }, 'http://evil.example.com')).error.data?.code).toBe('FORBIDDEN');
  });
});
