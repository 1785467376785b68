import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';
import { eventually } from '../support/eventually';

describe.each(STORAGE_MODES)('agent loop (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp(mode);
    api = new ApiClient(t.url, t.adminKey);
  });
  afterAll(async () => t?.close());

  it('register → request → progress → complete, with board comments and status counts', async () => {
    const project = await api.createProject('loop');
    const task = await api.addTask(project.id, {
      name: 'Build login',
      description: 'OAuth login page',
      priority: 'high',
      labels: ['frontend', 'auth'],
      estimated_hours: 3,
      checklist: ['form', 'oauth', 'tests', 'docs'],
    });
    expect(task).toMatchObject({ status: 'todo', priority: 'high', labels: ['frontend', 'auth'], dependencies: [], assigned_to: null });

    const agent = await api.agent(project.api_key, 'agent-1', ['frontend'], 'Alice');
    const ping = await agent.call('ping', { echo: 'hi' });
    expect(ping).toMatchObject({ success: true, status: 'online', provider: 'builtin', echo: 'hi' });

    const next = await agent.call('request_next_task', { agent_id: 'agent-1' });
    expect(next.success).toBe(true);
    expect(next.task).toMatchObject({ id: task.id, name: 'Build login', priority: 'high' });
    expect(next.task.instructions).toContain('Task Assignment for Alice');
    expect(next.task.lease.token).toMatch(/^\d+$/);
    expect(Date.parse(next.task.lease.expires_at)).toBeGreaterThan(Date.now());

    const again = await agent.call('request_next_task', { agent_id: 'agent-1' });
    expect(again.task.id).toBe(task.id);

    const p50 = await agent.call('report_task_progress', {
      agent_id: 'agent-1',
      task_id: task.id,
      status: 'in_progress',
      progress: 50,
      message: 'half way',
      lease_token: next.task.lease.token,
    });
    expect(p50).toMatchObject({ success: true, message: 'Progress updated successfully' });

    const st = await agent.call('get_agent_status', { agent_id: 'agent-1' });
    expect(st.agent).toMatchObject({ id: 'agent-1', name: 'Alice', status: 'working', current_tasks: [task.id], performance_score: 1 });
    expect(st.current_assignment).toMatchObject({ task_id: task.id, task_name: 'Build login' });

    const done = await agent.call('report_task_progress', { agent_id: 'agent-1', task_id: task.id, status: 'completed', progress: 100, message: 'done' });
    expect(done.success).toBe(true);

    const [after] = await api.listTasks(project.id);
    expect(after).toMatchObject({ id: task.id, status: 'done', assigned_to: 'agent-1' });
    expect(after.checklist.every((i: { done: boolean }) => i.done)).toBe(true);

    // Board comments are written by the kanban consumer, off the agent's path: wait for them.
    const comments = await eventually(async () => {
      const r = await t.db.query<{ body: string }>('SELECT body FROM board_comments WHERE task_id = $1 ORDER BY id', [task.id]);
      if (r.rows.length < 3) throw new Error(`${r.rows.length} comments so far`);
      return r;
    });
    expect(comments.rows.map((c) => c.body)).toEqual([
      expect.stringMatching(/^📋 Task assigned to Alice at \d{4}-\d\d-\d\dT/),
      '📊 Progress Update: 50% | Status: in_progress | half way',
      '📊 Progress Update: 100% | Status: completed | done',
    ]);

    const status = await agent.call('get_project_status');
    expect(status).toMatchObject({
      success: true,
      project: { total_tasks: 1, completed: 1, in_progress: 0, blocked: 0, completion_percentage: 100 },
      workers: { total: 1, active: 0, available: 1 },
      provider: 'builtin',
    });
    const none = await agent.call('request_next_task', { agent_id: 'agent-1' });
    expect(none).toMatchObject({ success: false, message: 'No suitable tasks available at this time' });
    expect(none.retry_after_seconds).toBeGreaterThan(0);
    agent.close();
  });
});
