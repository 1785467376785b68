import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PmAgentClient, PmAgentError, type PushEvents } from '../../packages/client/src';
import { AgentsGateway } from '../../src/modules/connections/agents.gateway';
import { ApiClient } from '../support/client';
import { shortLivedToken } from '../support/tokens';
import { STORAGE_MODES, startTestApp, TEST_JWT_SECRET, type TestApp } from '../support/app';

// The TypeScript SDK (packages/client) against the real service, in both storage modes.

describe.each(STORAGE_MODES)('SDK client (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;
  const clients: PmAgentClient[] = [];

  beforeAll(async () => {
    t = await startTestApp(mode);
    api = new ApiClient(t.url, t.adminKey);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => t?.close());

  const client = (apiKey: string, agentId: string, extra: Partial<ConstructorParameters<typeof PmAgentClient>[0]> = {}) => {
    const c = new PmAgentClient({ url: t.url, apiKey, agent: { agent_id: agentId, name: `Agent ${agentId}`, role: 'developer', skills: ['backend'] }, ...extra });
    clients.push(c);
    return c;
  };
  const progressRows = async (taskId: string, message: string) =>
    (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM progress_reports WHERE task_id = $1 AND message = $2', [taskId, message])).rows[0].n;

  it('a token that expires on the open socket is replaced from the API key without the caller noticing; a revoked key ends in INVALID_API_KEY', async () => {
    const project = await api.createProject('sdk token life');
    const keyId = (await api.request('GET', `/api/v1/projects/${project.id}/keys`, undefined, project.api_key)).body.keys[0].id as string;
    const short = await shortLivedToken(api, project, 'sdk-ttl', TEST_JWT_SECRET, 2);
    const c = client(project.api_key, 'sdk-ttl', { token: short });
    const connects: boolean[] = [];
    c.on('connected', (e) => connects.push(e.reconnect));
    await c.connect();
    expect(await c.ping('before')).toMatchObject({ success: true, echo: 'before' });
    await new Promise((r) => setTimeout(r, 2500));
    // The server answers INVALID_TOKEN (expired) and closes the socket; the SDK fetches a token and retries.
    expect(await c.ping('after')).toMatchObject({ success: true, echo: 'after' });
    expect(connects).toEqual([false, true]);

    expect((await api.request('DELETE', `/api/v1/projects/${project.id}/keys/${keyId}`, undefined, t.adminKey)).status).toBe(200);
    await expect(c.ping('revoked')).rejects.toMatchObject({ code: 'INVALID_API_KEY' });
  });

  it('register → request_next_task → progress (and keepAlive) → complete, then a typed "no task" answer', async () => {
    const project = await api.createProject('sdk loop');
    const task = await api.addTask(project.id, { name: 'Build API', description: 'REST endpoints', priority: 'high', labels: ['backend'] });
    const c = client(project.api_key, 'sdk-1');
    const connected: { url: string; reconnect: boolean }[] = [];
    c.on('connected', (e) => connected.push(e));

    await c.connect();
    expect(connected).toEqual([{ url: t.url, reconnect: false }]);
    expect(await c.ping('hello')).toMatchObject({ success: true, status: 'online', echo: 'hello' });
    // connect() registered the agent: the server knows it by the profile's name.
    expect((await c.getAgentStatus()).agent).toMatchObject({ id: 'sdk-1', name: 'Agent sdk-1', status: 'available' });

    const next = await c.requestNextTask();
    if (!next.success) throw new Error(`expected a task, got ${JSON.stringify(next)}`);
    expect(next.task).toMatchObject({ id: task.id, name: 'Build API', priority: 'high' });
    expect(next.task.lease.token).toMatch(/^\d+$/);
    expect(c.leaseToken(task.id)).toBe(next.task.lease.token);

    const p = await c.reportProgress({ task_id: task.id, status: 'in_progress', progress: 40, message: 'routes done' });
    expect(p).toMatchObject({ success: true, task_status: 'in_progress', lease: { token: next.task.lease.token } });

    // keepAlive renews the lease with in_progress reports carrying the lease token, until stopped.
    const k = c.keepAlive(task.id, 100, { message: 'still working' });
    await expect.poll(() => k.renewals, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    k.stop();
    const renewalsAtStop = k.renewals;
    expect(await progressRows(task.id, 'still working')).toBeGreaterThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(k.renewals).toBe(renewalsAtStop);

    const st = await c.getAgentStatus();
    expect(st.agent.current_tasks).toEqual([task.id]);

    const done = await c.complete(task.id, 'shipped');
    expect(done).toMatchObject({ success: true, task_status: 'done' });
    expect(c.leaseToken(task.id)).toBeUndefined();
    const [after] = await api.listTasks(project.id);
    expect(after).toMatchObject({ id: task.id, status: 'done', assigned_to: 'sdk-1' });

    const none = await c.requestNextTask();
    expect(none.success).toBe(false);
    if (none.success) throw new Error('unreachable');
    expect(none.message).toBe('No suitable tasks available at this time');
    expect(none.retry_after_seconds).toBeGreaterThan(0);

    const status = await c.getProjectStatus();
    expect(status.project).toMatchObject({ total_tasks: 1, completed: 1 });
    const listed = await c.listRegisteredAgents();
    expect(listed.agents.map((a) => a.id)).toEqual(['sdk-1']);
    expect((await c.checkAssignmentHealth()).healthy).toBe(true);
  });

  it('error answers throw PmAgentError with the server code', async () => {
    const project = await api.createProject('sdk errors');
    const task = await api.addTask(project.id, { name: 'Not mine', description: 'held by nobody', priority: 'low', labels: ['backend'] });
    const c = await client(project.api_key, 'sdk-err').connect();

    // Completing a task this agent does not hold.
    const stale = await c.complete(task.id).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(PmAgentError);
    expect(stale).toMatchObject({ code: 'STALE_COMPLETION', tool: 'report_task_progress' });

    const missing = await c.complete(randomUUID()).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PmAgentError);
    expect((missing as PmAgentError).code).toBe('TASK_NOT_FOUND');

    const invalid = await c.getTaskContext('not-a-uuid').catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(PmAgentError);
    expect((invalid as PmAgentError).code).toBe('VALIDATION_FAILED');

    // A wrong API key fails at once, without retry loops.
    const bad = client('pma_not-a-real-key', 'sdk-bad');
    const refused = await bad.connect().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PmAgentError);
    expect((refused as PmAgentError).code).toBe('INVALID_API_KEY');
  });

  it('a call retried with the same request_id acts once, also across a dropped socket', async () => {
    const project = await api.createProject('sdk retry');
    const task = await api.addTask(project.id, { name: 'Retry me', description: 'idempotent reports', priority: 'medium', labels: ['backend'] });
    const c = await client(project.api_key, 'sdk-retry', { callTimeoutMs: 3_000, backoff: { initialMs: 50, maxMs: 200 } }).connect();
    const next = await c.requestNextTask();
    if (!next.success) throw new Error('expected a task');

    // The same request_id twice: one report, the same answer.
    const rid = randomUUID();
    const payload = { agent_id: 'sdk-retry', task_id: task.id, status: 'in_progress' as const, progress: 30, message: 'once', request_id: rid };
    const a1 = await c.call('report_task_progress', payload);
    const a2 = await c.call('report_task_progress', payload);
    expect(a2).toEqual(a1);
    expect(await progressRows(task.id, 'once')).toBe(1);

    // The server drops every socket while a report is on its way: the SDK reconnects, registers
    // again and sends the report again with its request_id; it is recorded once.
    const reconnects: boolean[] = [];
    c.on('connected', (e) => reconnects.push(e.reconnect));
    const pending = c.reportProgress({ task_id: task.id, status: 'in_progress', progress: 60, message: 'across a drop' });
    t.app.get(AgentsGateway).namespace!.disconnectSockets(true);
    expect(await pending).toMatchObject({ success: true, task_status: 'in_progress', lease: { token: next.task.lease.token } });
    expect(reconnects).toContain(true);
    expect(c.connected).toBe(true);
    expect(await progressRows(task.id, 'across a drop')).toBe(1);
    // Still the holder under the same lease after the reconnect.
    const again = await c.requestNextTask();
    expect(again.success && again.task.id === task.id && again.task.lease.token === next.task.lease.token).toBe(true);
  });

  it('server pushes arrive typed through client.on', async () => {
    const project = await api.createProject('sdk push');
    const c = await client(project.api_key, 'sdk-push').connect();
    // Told to wait, the agent is woken by tasks_available when a task is created.
    expect((await c.requestNextTask()).success).toBe(false);
    const woken = new Promise<PushEvents['tasks_available']>((resolve) => c.once('tasks_available', resolve));
    const task = await api.addTask(project.id, { name: 'Wake up', description: 'new work', priority: 'urgent', labels: ['backend'] });
    const push = await Promise.race([woken, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no tasks_available push')), 15_000))]);
    expect(push.project_id).toBe(project.id);
    expect(push.eligible_tasks).toBeGreaterThanOrEqual(1);
    expect(Number.isNaN(Date.parse(push.at))).toBe(false);
    const got = await c.requestNextTask();
    expect(got.success && got.task.id).toBe(task.id);
  });
});
