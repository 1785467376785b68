import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type AgentSocket } from '../support/client';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';

// A `request_id` makes a mutating call idempotent: a retry (or a concurrent duplicate) gets the
// first answer back and the work is done once; the same id for another tool is a conflict.

describe.each(STORAGE_MODES)('idempotent retries (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;
  const sockets: AgentSocket[] = [];

  beforeAll(async () => {
    t = await startTestApp(mode);
    api = new ApiClient(t.url, t.adminKey);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.close();
  });

  async function agent(apiKey: string, id: string): Promise<AgentSocket> {
    const s = await api.agent(apiKey, id);
    sockets.push(s);
    return s;
  }
  async function count(sql: string, params: unknown[]): Promise<number> {
    const r = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params);
    return r.rows[0].n;
  }
  /** A project with one task, held by a fresh agent. */
  async function holding(name: string) {
    const p = await api.createProject(name);
    const task = await api.addTask(p.id, { name: `${name} task` });
    const a = await agent(p.api_key, `${name.replace(/\s+/g, '-')}-agent`);
    const got = await a.call('request_next_task', { agent_id: a.agentId });
    expect(got.task.id).toBe(task.id);
    return { p, task, a, token: got.task.lease.token as string };
  }

  it('register_agent: the retry returns the first answer and registers once', async () => {
    const p = await api.createProject('idem register');
    const s = await api.connect(await api.token(p.api_key, 'reg'));
    sockets.push(s);
    const first = await s.call('register_agent', { agent_id: 'reg', name: 'First', role: 'dev', skills: ['go'], request_id: 'reg-1' });
    expect(first).toEqual({ success: true, message: 'Agent First registered successfully', agent_id: 'reg' });
    // The retry carries the same request id; even a changed body gets the first answer and no effect.
    expect(await s.call('register_agent', { agent_id: 'reg', name: 'First', role: 'dev', skills: ['go'], request_id: 'reg-1' })).toEqual(first);
    expect(await s.call('register_agent', { agent_id: 'reg', name: 'Second', role: 'ops', skills: ['rust'], request_id: 'reg-1' })).toEqual(first);

    const rows = await t.db.query('SELECT name, role, skills FROM agents WHERE project_id = $1', [p.id]);
    expect(rows.rows).toEqual([{ name: 'First', role: 'dev', skills: ['go'] }]);
    expect(await count(`outbox WHERE project_id = $1 AND event_type = 'agent.registered'`, [p.id])).toBe(1);
  });

  it('request_next_task: the retry returns the same task and lease, and claims once', async () => {
    const p = await api.createProject('idem next');
    const t1 = await api.addTask(p.id, { name: 'one', priority: 'high' });
    const t2 = await api.addTask(p.id, { name: 'two' });
    const a = await agent(p.api_key, 'nexter');

    const first = await a.call('request_next_task', { agent_id: 'nexter', request_id: 'next-1' });
    expect(first.task.id).toBe(t1.id);
    expect(await a.call('request_next_task', { agent_id: 'nexter', request_id: 'next-1' })).toEqual(first);

    // Even once the task is done (a new request would claim t2), the retry is the first answer.
    expect(
      await a.call('report_task_progress', { agent_id: 'nexter', task_id: t1.id, status: 'completed', progress: 100, message: 'ok' }),
    ).toMatchObject({ success: true });
    expect(await a.call('request_next_task', { agent_id: 'nexter', request_id: 'next-1' })).toEqual(first);
    expect(await count(`assignments WHERE project_id = $1`, [p.id])).toBe(1);
    const [, second] = await api.listTasks(p.id);
    expect(second).toMatchObject({ id: t2.id, status: 'todo', assigned_to: null });

    // A new request id acts.
    expect((await a.call('request_next_task', { agent_id: 'nexter', request_id: 'next-2' })).task.id).toBe(t2.id);
  });

  it('report_task_progress: progress and completion retried act once; total_completed counts once', async () => {
    const { p, task, a, token } = await holding('idem progress');
    const report = { agent_id: a.agentId, task_id: task.id, status: 'in_progress', progress: 40, message: 'forty', lease_token: token, request_id: 'p-1' };
    const first = await a.call('report_task_progress', report);
    expect(first).toMatchObject({ success: true, message: 'Progress updated successfully', task_status: 'in_progress' });
    expect(await a.call('report_task_progress', report)).toEqual(first);
    expect(await count(`progress_reports WHERE task_id = $1`, [task.id])).toBe(1);

    const done = { ...report, status: 'completed', progress: 100, message: 'all done', request_id: 'done-1' };
    const completed = await a.call('report_task_progress', done);
    expect(completed).toMatchObject({ success: true, task_status: 'done' });
    // Without the request id the late retry would be refused as stale; with it, the first answer.
    expect(await a.call('report_task_progress', done)).toEqual(completed);
    expect(await a.call('report_task_progress', done)).toEqual(completed);

    expect(await count(`progress_reports WHERE task_id = $1`, [task.id])).toBe(2);
    expect(await count(`outbox WHERE aggregate_id = $1::text AND event_type = 'task.completed'`, [task.id])).toBe(1);
    const st = await a.call('get_agent_status', { agent_id: a.agentId });
    expect(st.agent.total_completed).toBe(1);
    const agents = await t.db.query('SELECT total_completed FROM agents WHERE project_id = $1', [p.id]);
    expect(agents.rows).toEqual([{ total_completed: 1 }]);
  });

  it('report_blocker, log_decision and log_artifact retried store one row each', async () => {
    const { task, a, token } = await holding('idem rows');
    const blocker = { agent_id: a.agentId, task_id: task.id, blocker_description: 'CI is down', severity: 'low', lease_token: token, request_id: 'b-1' };
    const b1 = await a.call('report_blocker', blocker);
    expect(b1).toMatchObject({ success: true, message: 'Blocker reported and suggestions provided', blocker_id: expect.any(String) });
    expect(await a.call('report_blocker', blocker)).toEqual(b1);
    expect(await count(`blockers WHERE task_id = $1`, [task.id])).toBe(1);

    const decision = { agent_id: a.agentId, task_id: task.id, decision: 'Use the v2 API', request_id: 'd-1' };
    const d1 = await a.call('log_decision', decision);
    expect(d1).toMatchObject({ success: true, decision_id: expect.any(String) });
    expect(await a.call('log_decision', decision)).toEqual(d1);
    expect(await count(`decisions WHERE task_id = $1`, [task.id])).toBe(1);

    const artifact = { agent_id: a.agentId, task_id: task.id, filename: 'design.md', content: '# Design', artifact_type: 'doc', request_id: 'f-1' };
    const f1 = await a.call('log_artifact', artifact);
    expect(f1).toMatchObject({ success: true, artifact_id: expect.any(String) });
    expect(await a.call('log_artifact', artifact)).toEqual(f1);
    expect(await count(`artifacts WHERE task_id = $1`, [task.id])).toBe(1);

    const ctx = await a.call('get_task_context', { task_id: task.id });
    expect(ctx.context.decisions).toHaveLength(1);
    expect(ctx.context.artifacts).toHaveLength(1);
    expect(ctx.context.blockers).toHaveLength(1);
  });

  it('10 concurrent sends of the same request_id act once', async () => {
    const p = await api.createProject('idem concurrent');
    const tasks = [await api.addTask(p.id, { name: 'c1', priority: 'urgent' }), await api.addTask(p.id, { name: 'c2' })];
    const a = await agent(p.api_key, 'burst');
    const burst = (event: string, payload: Record<string, unknown>) => Promise.all(Array.from({ length: 10 }, () => a.call(event, payload)));
    const allSame = (answers: unknown[]) => {
      for (const x of answers) expect(x).toEqual(answers[0]);
    };

    const claims = await burst('request_next_task', { agent_id: 'burst', request_id: 'c-next' });
    allSame(claims);
    expect(claims[0].task.id).toBe(tasks[0].id);
    expect(await count(`assignments WHERE project_id = $1`, [p.id])).toBe(1);
    const token = claims[0].task.lease.token;

    const decisions = await burst('log_decision', { agent_id: 'burst', task_id: tasks[0].id, decision: 'once', request_id: 'c-dec' });
    allSame(decisions);
    expect(decisions[0].success).toBe(true);
    expect(await count(`decisions WHERE task_id = $1`, [tasks[0].id])).toBe(1);

    const artifacts = await burst('log_artifact', { agent_id: 'burst', task_id: tasks[0].id, filename: 'a.txt', content: 'x', artifact_type: 'log', request_id: 'c-art' });
    allSame(artifacts);
    expect(await count(`artifacts WHERE task_id = $1`, [tasks[0].id])).toBe(1);

    const blockers = await burst('report_blocker', { agent_id: 'burst', task_id: tasks[0].id, blocker_description: 'flaky', lease_token: token, request_id: 'c-blk' });
    allSame(blockers);
    expect(blockers[0].success).toBe(true);
    expect(await count(`blockers WHERE task_id = $1`, [tasks[0].id])).toBe(1);

    const completions = await burst('report_task_progress', {
      agent_id: 'burst',
      task_id: tasks[0].id,
      status: 'completed',
      progress: 100,
      message: 'done',
      lease_token: token,
      request_id: 'c-done',
    });
    allSame(completions);
    expect(completions[0]).toMatchObject({ success: true, task_status: 'done' });
    expect(await count(`progress_reports WHERE task_id = $1`, [tasks[0].id])).toBe(1);
    const agents = await t.db.query('SELECT total_completed FROM agents WHERE project_id = $1', [p.id]);
    expect(agents.rows).toEqual([{ total_completed: 1 }]);

    const registrations = await burst('register_agent', { agent_id: 'burst', name: 'Burst', role: 'dev', request_id: 'c-reg' });
    allSame(registrations);
    expect(await count(`outbox WHERE project_id = $1 AND event_type = 'agent.registered'`, [p.id])).toBe(2); // the first registration + this one
  });

  it('a request_id reused for a different tool answers IDEMPOTENCY_CONFLICT and changes nothing', async () => {
    const { task, a, token } = await holding('idem conflict');
    const decided = await a.call('log_decision', { agent_id: a.agentId, task_id: task.id, decision: 'keep it simple', request_id: 'shared-1' });
    expect(decided.success).toBe(true);

    const artifact = await a.call('log_artifact', { agent_id: a.agentId, task_id: task.id, filename: 'x.md', content: 'x', artifact_type: 'doc', request_id: 'shared-1' });
    expect(artifact).toMatchObject({ success: false, code: 'IDEMPOTENCY_CONFLICT', error: expect.any(String) });
    const progress = await a.call('report_task_progress', {
      agent_id: a.agentId,
      task_id: task.id,
      status: 'completed',
      progress: 100,
      message: 'x',
      lease_token: token,
      request_id: 'shared-1',
    });
    expect(progress).toMatchObject({ success: false, code: 'IDEMPOTENCY_CONFLICT' });
    const next = await a.call('request_next_task', { agent_id: a.agentId, request_id: 'shared-1' });
    expect(next).toMatchObject({ success: false, code: 'IDEMPOTENCY_CONFLICT' });

    expect(await count(`artifacts WHERE task_id = $1`, [task.id])).toBe(0);
    expect(await count(`progress_reports WHERE task_id = $1`, [task.id])).toBe(0);
    expect(await count(`decisions WHERE task_id = $1`, [task.id])).toBe(1);
    const [row] = await api.listTasks(task.project_id);
    expect(row).toMatchObject({ status: 'in_progress', assigned_to: a.agentId });

    // The original tool still replays its own answer.
    expect(await a.call('log_decision', { agent_id: a.agentId, task_id: task.id, decision: 'keep it simple', request_id: 'shared-1' })).toEqual(decided);
  });
});
